#!/usr/bin/env python3
"""Wall time of `pylaunchctl list` (and `services list`) as a whole process, with 1,000 loaded jobs.

Starts a private pylaunchd on a temporary jobs directory with N on-demand
jobs (half of them with a socket on 127.0.0.1), then runs `pylaunchctl list`
(and `list --json`) R times and reports the median and p90. The same run
times `python -c pass` with the same interpreter, the floor any Python CLI
pays, so the figure can be read as a ratio on a noisy machine.

    python3 bench/list_latency.py [--jobs 1000] [--runs 30] [--repo PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import plistlib
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import add_repo_option, python, repo_env, use_repo  # noqa: E402


def timed(cmd, env, runs):
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        cp = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        samples.append((time.perf_counter() - t0) * 1000)
        if cp.returncode != 0:
            raise SystemExit(f"{cmd} failed: {cp.stderr.decode()}")
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 1), "p90_ms": round(samples[int(len(samples) * 0.9) - 1], 1)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    add_repo_option(ap)
    a = ap.parse_args(argv)
    repo = use_repo(a.repo)
    from pylaunchd.control.protocol import ControlError, request
    root = tempfile.mkdtemp(prefix="pl-bench-", dir="/tmp")
    jobs = os.path.join(root, "jobs")
    os.mkdir(jobs)
    for i in range(a.jobs):
        d = {"Label": f"bench.job.{i:04d}", "ProgramArguments": ["/bin/true"]}
        if i % 2:
            d["Sockets"] = {"L": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}
        with open(os.path.join(jobs, f"j{i:04d}.plist"), "wb") as f:
            plistlib.dump(d, f)
    sock = os.path.join(root, "ctl.sock")
    log = open(os.path.join(root, "manager.log"), "wb")
    proc = subprocess.Popen([python(), "-m", "pylaunchd", "--jobs-dir", jobs,
                             "--control-socket", sock, "--state-dir", os.path.join(root, "state"),
                             "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT, env=repo_env(repo))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if len(request(sock, "list", timeout=5)) == a.jobs:
                    break
            except ControlError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit("the manager did not load every job in time")
        env = repo_env(repo, PYLAUNCHD_CONTROL_SOCKET=sock)
        ctl = [python(), "-m", "pylaunchd.cli.launchctl"]  # as an installed pylaunchctl starts
        results = {
            "python -c pass": timed([python(), "-c", "pass"], env, a.runs),
            "pylaunchctl list": timed(ctl + ["list"], env, a.runs),
            "pylaunchctl list --json": timed(ctl + ["list", "--json"], env, a.runs),
            "pylaunchctl services list": timed(ctl + ["services", "list"],
                                               env, a.runs),
        }
        base = results["python -c pass"]["p50_ms"]
        for r in results.values():
            r["ratio_to_python_start"] = round(r["p50_ms"] / base, 2)
        if a.json:
            print(json.dumps({"jobs": a.jobs, "runs": a.runs, "results": results}, indent=2))
        else:
            print(f"{a.jobs} jobs loaded, {a.runs} runs each")
            print(f"{'command':<26}{'p50 ms':>9}{'p90 ms':>9}{'x python start':>16}")
            for name, r in results.items():
                print(f"{name:<26}{r['p50_ms']:>9}{r['p90_ms']:>9}{r['ratio_to_python_start']:>16}")
        return 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

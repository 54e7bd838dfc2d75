#!/usr/bin/env python3
"""Start-up: exec of the manager -> every socket of 60 jobs listening, and clients refused meanwhile.

For each run a fresh manager is started on 60 services (bench/fleet.py) on
fresh free ports. A probe process, started and probing before the exec,
tries to connect to every port not yet seen accepting, round after round
with no pause, and notes when each port first accepted (CLOCK_MONOTONIC,
which the benchmark shares) and how many connections were refused. The
figure is the time from just before the exec (``Popen``) to the last port's
first accepted connection; the refused count is what early clients of a boot
would see instead of waiting in the kernel's queue. Median of 5 runs per
manager, the runs of all managers interleaved.

``pylaunchd`` is the installed command, a cold start: plists nobody read
before, no boot cache (a first boot, or every plist changed). The command
is the C front end (``pylaunchd/_prebind.c``, compiled from the tree
measured), which binds the jobs' network sockets and execs the Python
manager. ``pylaunchd warm`` is the usual start: the manager ran once on
the same plists and stopped, so its boot cache (:mod:`pylaunchd.bootcache`)
is current. ``pylaunchd-python`` is the Python manager alone, cold (no C
compiler at install, or ``python -m pylaunchd``): its sockets listen only
once Python has started and read the plists.

Peers: xinetd (``-dontfork``, one private configuration); circus, which
binds its ``[socket:]`` sections before anything runs but has no on-demand
start (watchers with ``autostart = false`` here). supervisord has no
listening sockets of its own to hand to a job (its ``fcgi-program`` socket
belongs to a process group it runs), so it cannot do this case.

    python3 bench/startup.py [--jobs 60] [--runs 5] [--repo PATH] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BenchError, add_repo_option, machine, run_and_report, use_repo  # noqa: E402
from fleet import CircusFleet, PylaunchdFleet, XinetdFleet, make_services, raise_nofile  # noqa: E402

WARM = "pylaunchd warm"  # started once before, on the same plists: its boot cache is current
PYTHON_ONLY = "pylaunchd-python"  # the Python manager alone, cold: no C front end binding first

PROBE = r"""
import json, socket, sys, time
ports, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
first, refused, attempts = {}, 0, 0
deadline = time.monotonic() + timeout
said = False
while len(first) < len(ports) and time.monotonic() < deadline:
    for p in ports:
        if p in first:
            continue
        s = socket.socket()
        attempts += 1
        try:
            s.connect(("127.0.0.1", p))
            first[p] = time.monotonic()
        except OSError:
            refused += 1
        finally:
            s.close()
    if not said:
        print("ready", flush=True)
        said = True
print(json.dumps({"first": first, "refused": refused, "attempts": attempts}), flush=True)
"""


def make_fleet(name: str, root: Path, repo: Path):
    if name in ("pylaunchd", WARM, PYTHON_ONLY):
        return PylaunchdFleet(root, repo, log_level="warning", front_end=name != PYTHON_ONLY)
    return {"xinetd": XinetdFleet, "circus": CircusFleet}[name](root)


def one_run(name: str, args) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"plbench-startup-{name.replace(' ', '-')}-", dir="/tmp"))
    fleet, probe = None, None
    try:
        fleet = make_fleet(name, root, args.repo)
        services = make_services(args.jobs, root)
        fleet.write_jobs(services)
        if name == WARM:
            fleet.warm_boot_cache(args.timeout)
        ports = [s.port for s in services]
        probe = subprocess.Popen([sys.executable, "-c", PROBE, json.dumps(ports), str(args.timeout)],
                                 stdout=subprocess.PIPE, text=True)
        if probe.stdout.readline().strip() != "ready":
            raise BenchError("the probe did not start")
        t0 = fleet.start()
        out, _ = probe.communicate(timeout=args.timeout + 30)
        result = json.loads(out)
        if len(result["first"]) < len(ports):
            return {"all_s": None, "refused": result["refused"],
                    "note": f"{len(ports) - len(result['first'])} ports never accepted in {args.timeout:g} s"}
        times = sorted(result["first"].values())
        return {"first_s": times[0] - t0, "all_s": times[-1] - t0, "refused": result["refused"],
                "attempts": result["attempts"]}
    finally:
        if probe is not None and probe.poll() is None:
            probe.kill()
            probe.wait()
        if fleet is not None:
            fleet.stop()
        shutil.rmtree(root, ignore_errors=True)


def summarise(runs: list[dict]) -> dict:
    done = [r["all_s"] * 1000 for r in runs if r.get("all_s") is not None]
    out = {"runs": runs, "failed": len(runs) - len(done),
           "refused_median": statistics.median(r["refused"] for r in runs)}
    if done:
        out.update(median_ms=statistics.median(done), min_ms=min(done), max_ms=max(done),
                   first_median_ms=statistics.median(r["first_s"] * 1000 for r in runs if r.get("first_s")))
    return out


def run(args) -> dict:
    raise_nofile()
    notes = ["supervisord: cannot do this case (no sockets created ahead of a job)"]
    names = []
    versions = {}
    for name in args.managers:
        root = Path(tempfile.mkdtemp(prefix="plbench-startup-v-", dir="/tmp"))
        try:
            versions[name] = make_fleet(name, root, args.repo).version()
            names.append(name)
        except BenchError as e:
            notes.append(f"{name}: not run: {e}")
        finally:
            shutil.rmtree(root, ignore_errors=True)
    runs = {name: [] for name in names}
    for _ in range(args.runs):
        for name in names:
            runs[name].append(one_run(name, args))
    results = {name: summarise(r) for name, r in runs.items()}
    base = results.get("pylaunchd", {}).get("median_ms")
    peer = results.get("xinetd", {}).get("median_ms")
    for name, r in results.items():
        r["pylaunchd_ratio"] = base / r["median_ms"] if base and r.get("median_ms") else None
        r["xinetd_ratio"] = r["median_ms"] / peer if peer and r.get("median_ms") else None
    return {"machine": machine(), "versions": versions, "jobs": args.jobs, "runs": args.runs,
            "results": results, "notes": notes}


def render(report: dict) -> str:
    m = report["machine"]
    lines = [f"start-up, {report['jobs']} jobs, median of {report['runs']} runs; {m['date']}; "
             f"{m['cpus']} CPUs, Linux {m['kernel']}", "; ".join(report["versions"].values()), "",
             f"{'manager':<15} {'all ms':>8} {'min':>8} {'max':>8} {'first ms':>9} {'refused':>8} {'pylaunchd/x':>12}"]
    for name, r in report["results"].items():
        ratio = r.get("pylaunchd_ratio")
        lines.append(f"{name:<15} {r.get('median_ms', float('nan')):8.1f} {r.get('min_ms', float('nan')):8.1f} "
                     f"{r.get('max_ms', float('nan')):8.1f} {r.get('first_median_ms', float('nan')):9.1f} "
                     f"{r['refused_median']:8.0f} {'' if ratio is None else format(ratio, '.2f') + 'x':>12}")
    lines += [f"note: {x}" for x in report["notes"]]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=60)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--timeout", type=float, default=30, help="s the probe waits for every port (default 30)")
    p.add_argument("--managers", type=lambda s: s.split(","),
                   default=["pylaunchd", WARM, PYTHON_ONLY, "xinetd", "circus"])
    p.add_argument("--json", action="store_true")
    add_repo_option(p)
    args = p.parse_args(argv)
    args.repo = use_repo(args.repo)
    report = run_and_report(run, args, render, "start-up")
    return 0 if report is not None else 1


if __name__ == "__main__":
    sys.exit(main())

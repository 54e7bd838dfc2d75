#!/usr/bin/env python3
"""One run, one report: every benchmark of bench/ against its peers, into docs/benchmarks.md.

    python bench/run_all.py [--quick] [--repo PATH] [--no-write] [--json-out FILE]

Runs, one after the other and each as its own process with ``--json`` and
``--repo``: scale.py, reload.py, startup.py, activation.py,
bus_activation.py, spawn_throughput.py, list_latency.py and boot.py (the
parallel boot of 60 services as PID 1: as root; without root its runners
say why they were skipped). Each is bounded in time (SIGTERM,
which makes it stop what it started and remove its temporary directory,
then SIGKILL); one that fails or overruns is reported as such and the others
still run. The tables, the machine and the tree measured go into
docs/benchmarks.md between the run_all markers (the hand-written sections
around them are kept), the plots into docs/img/ (matplotlib, from
``pip install -e '.[bench]'``). The whole run is meant to take under 15
minutes on 2 cores, ``--quick`` under 3.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchlib import REPO, add_repo_option, imported_from, machine, terminate, use_repo  # noqa: E402
from report import markdown, write_doc  # noqa: E402

# (key, script and arguments, bound in s)
FULL = [("scale", ["scale.py", "--sizes", "100,300,1000,3000,10000"], 420),
        ("reload", ["reload.py", "--trials", "50"], 240),
        ("startup", ["startup.py", "--runs", "5"], 90),
        ("activation", ["activation.py", "--runs", "30"], 120),
        ("bus_activation", ["bus_activation.py", "--runs", "30"], 120),
        ("spawn_throughput", ["spawn_throughput.py", "--max-seconds", "60"], 120),
        ("list_latency", ["list_latency.py", "--jobs", "1000", "--runs", "20"], 120),
        ("list_latency", ["list_latency.py", "--jobs", "10000", "--runs", "5"], 150),
        ("boot", ["boot.py", "--repeat", "3"], 240)]
QUICK = [("scale", ["scale.py", "--sizes", "100,300,1000", "--idle-seconds", "2", "--circus-max", "300"], 60),
         ("reload", ["reload.py", "--trials", "10", "--half-trials", "2"], 40),
         ("startup", ["startup.py", "--runs", "3"], 25),
         ("activation", ["activation.py", "--runs", "8", "--warmup", "1"], 30),
         ("bus_activation", ["bus_activation.py", "--runs", "8", "--warmup", "1"], 30),
         ("spawn_throughput", ["spawn_throughput.py", "--sequential", "100", "--per-client", "20",
                               "--rounds", "5", "--max-seconds", "15"], 30),
         ("list_latency", ["list_latency.py", "--jobs", "300", "--runs", "5"], 30),
         ("boot", ["boot.py", "--repeat", "1", "--services", "12", "--layers", "3", "--start-ms", "50",
                   "--runners", "pylaunchd,tini"], 60)]
CANNOT = [
    "supervisord: creates no listening socket ahead of a program (its only sockets are `fcgi-program`'s, "
    "which belong to a process group it runs), starts nothing on a connection and has no inetd mode, so it "
    "cannot do any case here (scale, reload, start-up, activation, spawn throughput).",
    "circus: binds its `[socket:]` sections before anything runs, so it is in scale (up to the `--circus-max` "
    "size) and start-up; but it has no on-demand start and no per-connection mode (activation, spawn "
    "throughput) and does not watch its configuration (reload: `circusctl reloadconfig` by hand).",
    "xinetd: no unix sockets (scale gives it TCP ports only), does not watch its file (reload: a SIGHUP after "
    "each write), no `LISTEN_FDS` (activation's peer is systemd-socket-activate).",
    "systemd-socket-activate: one set of sockets per process, not a manager of many jobs (not in scale, "
    "reload, start-up).",
]


def run_one(script: list[str], repo: Path, bound: float) -> dict:
    """One benchmark as a process; its JSON report, or {"error": ...}."""
    argv = [sys.executable, str(HERE / script[0]), *script[1:], "--json", "--repo", str(repo)]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=bound)
        sys.stderr.write(err)
    except subprocess.TimeoutExpired:
        terminate(proc, 30)
        return {"error": f"did not finish in {bound:.0f} s", "wall_s": bound}
    finally:
        if proc.poll() is None:
            terminate(proc, 30)
    wall = time.monotonic() - t0
    try:
        report = json.loads(out)
    except json.JSONDecodeError:
        last = (err.strip().splitlines() or ["no message"])[-1]
        return {"error": f"failed (exit {proc.returncode}): {last}", "wall_s": wall}
    report["wall_s_total"] = wall
    return report


def commit_of(repo: Path) -> str:
    try:
        rev = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "pylaunchd"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{rev}{' with uncommitted changes in pylaunchd/' if dirty else ''}" or "not a git tree"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown commit"


def versions(results: dict) -> list[str]:
    out = []
    for key in ("scale", "startup"):
        out += [v for k, v in (results.get(key) or {}).get("versions", {}).items() if k != "pylaunchd"]
    ssa = (results.get("activation") or {}).get("machine", {}).get("ssa")
    dbus = (results.get("bus_activation") or {}).get("machine", {}).get("dbus")
    return sorted(set(out)) + [v for v in (ssa, dbus) if v]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smaller sizes, under 3 minutes")
    p.add_argument("--no-write", action="store_true", help="print the Markdown instead of writing the doc")
    p.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    p.add_argument("--json-out", type=Path, help="also keep every report, as JSON, in this file")
    p.add_argument("--from-json", type=Path, help="run nothing: write the report of a --json-out file again")
    p.add_argument("--budget", type=float, default=None, help="s for the whole run (default 870, quick 170)")
    add_repo_option(p)
    args = p.parse_args(argv)
    repo = use_repo(args.repo)
    if Path(imported_from(repo)) != repo:
        raise SystemExit(f"run_all: a manager started for {repo} would import pylaunchd from "
                         f"{imported_from(repo)}: not measuring the wrong tree")
    if args.from_json:
        return publish(json.loads(args.from_json.read_text()), args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # the finally of run_one stops the benchmark
    plan = QUICK if args.quick else FULL
    budget = args.budget or (170 if args.quick else 870)
    t_start = time.monotonic()
    results: dict = {}
    for key, script, bound in plan:
        left = budget - (time.monotonic() - t_start)
        if left < 5:
            skipped = {"error": f"not run: the {budget:.0f} s budget was spent"}
            if key == "list_latency":
                results.setdefault(key, []).append(skipped)
            else:
                results.setdefault(key, skipped)
            continue
        print(f"run_all: {' '.join(script)} (at most {min(bound, left):.0f} s)", file=sys.stderr, flush=True)
        report = run_one(script, repo, min(bound, left))
        report.setdefault("jobs", int(script[script.index("--jobs") + 1]) if "--jobs" in script else None)
        if key == "list_latency":
            results.setdefault(key, []).append(report)
        else:
            results[key] = report
    command = "python bench/run_all.py" + (" --quick" if args.quick else "") + \
        ("" if repo == REPO else f" --repo {repo}")
    run = {"machine": machine(), "repo": str(repo), "commit": commit_of(repo), "command": command,
           "wall_s": time.monotonic() - t_start, "versions": versions(results), "results": results,
           "cannot": CANNOT}
    if args.json_out:
        args.json_out.write_text(json.dumps(run, indent=1))
    return publish(run, args)


def publish(run: dict, args) -> int:
    """The plots and the Markdown block of *run*, into the doc (or on stdout with --no-write)."""
    results = run["results"]
    try:
        from plots import make_all

        plots = [] if args.no_write else make_all(results, args.doc.parent / "img")
    except ImportError as e:
        plots = []
        run["cannot"] = CANNOT + [f"(no plots: {e}; pip install -e '.[bench]')"]
    block = markdown(run, plots)
    if args.no_write:
        print(block)
    else:
        write_doc(args.doc, block)
        print(f"run_all: wrote {args.doc} ({run['wall_s']:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

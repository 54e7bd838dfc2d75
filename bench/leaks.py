#!/usr/bin/env python3
"""Leaks: after N activations of each kind and M reloads, does the manager hold
what it held before?

    python3 bench/leaks.py [--activations 10000] [--reloads 1000] [--json] [--write]

One pylaunchd runs one job of each kind of bench/workload.py (LISTEN_FDS,
inetd ``Wait`` false, inetd ``Wait`` true, UDP), each serving one request and
exiting, and ``--reload-jobs`` more (the kinds in turn) whose plists are
rewritten. After a warm-up (the reload jobs reloaded twice, then every job
asked ``--warmup`` times: the manager's lazily made parts exist and every
job's in-memory log is full) and once every child is reaped, the *baseline*
is read from /proc: open descriptors (by kind), threads, children in state
Z, VmRSS and RssAnon. Then:

1. *activations*: one client thread per kind makes ``--activations``
   requests one after the other, each answered by a new process;
2. *reloads*: ``--reloads`` plist rewrites, ``--reload-jobs`` at a time
   (editor-style saves of the generation in ``EnvironmentVariables``; every
   other generation also moves the socket between 127.0.0.1 and 127.0.0.2,
   so half the reloads replace the socket); each round waits until ``print``
   shows every job's new generation, then makes one request to each.

After each phase, once quiet, the same figures again. Holds when fds,
threads and zombies equal the baseline, RssAnon (the heap; VmRSS's file pages
come and go with the page cache) is within ``--rss-tolerance`` (5 %) of it,
and no request was lost. The peer, in the same run: xinetd
(``-dontfork``, a private configuration) serving the two TCP inetd kinds
with the same program, its figures before and after the same number of
activations (it has no LISTEN_FDS and no file watching; its UDP lost every
other datagram, see bench/xinetd_peer.py).

``--write`` puts the report into docs/benchmarks.md between the ``leaks``
markers. The full run takes several minutes (40,000 spawns), more than
bench/run_all.py's 15-minute budget leaves, so it is run on its own.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from benchlib import (BenchError, add_report_options, add_repo_option, machine, report_or_replay,  # noqa: E402
                      use_repo)
from workload import KINDS, Lost, Manager, address, ask, build_job, job_plist, settle  # noqa: E402
from xinetd_peer import XinetdPeer  # noqa: E402

EXACT = ("fds", "threads", "zombies")


def drive(kind: str, addr, n: int, tag: str, lost: list) -> None:
    for i in range(n):
        try:
            ask(kind, addr, f"{tag}{i}")
        except Lost as e:
            lost.append(str(e))


def activate_all(targets: dict, n: int, tag: str) -> dict:
    """*n* requests to each job of *targets* (name -> (kind, address)) at once, a thread
    per job; lost requests and the time taken."""
    lost: list[str] = []
    t0 = time.monotonic()
    threads = [threading.Thread(target=drive, args=(kind, addr, n, f"{tag}-{name}-", lost))
               for name, (kind, addr) in targets.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    return {"requests": n * len(targets), "lost": len(lost), "lost_sample": lost[:5], "wall_s": round(wall, 2),
            "per_s": round(n * len(targets) / wall, 1) if wall else None}


def reload_rounds(mgr: Manager, jobs: dict, program: str, rounds: int, first_gen: int) -> dict:
    """Rewrite every job of *jobs* (label -> kind) *rounds* times; after each round
    wait for the new generation and ask each job once."""
    lost: list[str] = []
    t0 = time.monotonic()
    for r in range(rounds):
        gen = first_gen + r
        for label, kind in jobs.items():
            mgr.write(label, job_plist(kind, label, program, generation=gen))
        for label, kind in jobs.items():
            info = mgr.wait_info(label, lambda i: i["environment"].get("GENERATION") == str(gen), 30,
                                 f"generation {gen}")
            try:
                ask(kind, address(info), f"gen{gen}")
            except Lost as e:
                lost.append(str(e))
    wall = time.monotonic() - t0
    return {"reloads": rounds * len(jobs), "lost": len(lost), "lost_sample": lost[:5], "wall_s": round(wall, 2)}


def compare(base: dict, now: dict, tolerance: float) -> dict:
    """Holds when fds, threads and zombies are the baseline's and the anonymous RSS
    (the heap) grew by at most *tolerance* %."""
    growth = 100 * (now["rss_kib"] - base["rss_kib"]) / base["rss_kib"]
    anon = 100 * (now["anon_kib"] - base["anon_kib"]) / base["anon_kib"]
    holds = all(now[k] == base[k] for k in EXACT) and anon <= tolerance
    return {"rss_growth_pct": round(growth, 2), "anon_growth_pct": round(anon, 2), "holds": holds,
            "differs": {k: [base[k], now[k]] for k in (*EXACT, "fd_kinds") if now[k] != base[k]}}


def run_pylaunchd(args, root: Path, program: str) -> dict:
    mgr = Manager(root / "pylaunchd", args.repo)
    fixed = {f"bench.leaks.{kind}": kind for kind in KINDS}
    reloaded = {f"bench.leaks.reload{i}": KINDS[i % len(KINDS)] for i in range(args.reload_jobs)}
    for label, kind in {**fixed, **reloaded}.items():
        mgr.write(label, job_plist(kind, label, program))
    mgr.start()
    try:
        labels = [*fixed, *reloaded]
        targets = {label: (kind, address(mgr.wait_info(label, lambda i: i["sockets"], 30, "loaded")))
                   for label, kind in {**fixed, **reloaded}.items()}
        reload_rounds(mgr, reloaded, program, 2, 1)
        targets.update({label: (kind, address(mgr.info(label))) for label, kind in reloaded.items()})
        warm = activate_all(targets, args.warmup, "warm")  # every job's in-memory log is full
        addrs = {label: targets[label] for label in fixed}
        mgr.wait_quiet(labels)
        base = settle(mgr.pid)
        act = activate_all(addrs, args.activations, "a")
        mgr.wait_quiet(labels)
        after_act = settle(mgr.pid)
        rel = reload_rounds(mgr, reloaded, program, max(1, args.reloads // max(1, args.reload_jobs)), 3)
        mgr.wait_quiet(labels)
        after = settle(mgr.pid)
        runs = {kind: (mgr.info(label) or {}).get("runs") for label, kind in fixed.items()}
    finally:
        mgr.stop()
    return {"warmup": warm, "baseline": base, "activations": act, "after_activations": after_act,
            "after_activations_vs_baseline": compare(base, after_act, args.rss_tolerance),
            "reloads": rel, "after_reloads": after, "after_reloads_vs_baseline": compare(base, after, args.rss_tolerance),
            "runs": runs, "manager_exit": mgr.proc.returncode}


def run_xinetd(args, root: Path, program: str) -> dict:
    peer = XinetdPeer(root / "xinetd", program)
    peer.start()
    try:
        addrs = {kind: (kind, addr) for kind, addr in peer.addresses().items()}
        activate_all(addrs, args.warmup, "warm")
        peer.wait_quiet()
        base = settle(peer.pid)
        act = activate_all(addrs, args.activations, "a")
        peer.wait_quiet()
        after = settle(peer.pid)
    finally:
        peer.stop()
    return {"version": peer.version(), "baseline": base, "activations": act, "after_activations": after,
            "after_activations_vs_baseline": compare(base, after, args.rss_tolerance)}


def run(args) -> dict:
    root = Path(tempfile.mkdtemp(prefix="pl-leaks-", dir="/tmp"))
    try:
        program = build_job(root)
        report = {"machine": machine(), "activations_per_kind": args.activations, "reloads": args.reloads,
                  "reload_jobs": args.reload_jobs, "rss_tolerance_pct": args.rss_tolerance,
                  "pylaunchd": run_pylaunchd(args, root, program)}
        if not args.no_peer:
            try:
                report["xinetd"] = run_xinetd(args, root, program)
            except BenchError as e:
                report["xinetd"] = {"error": str(e)}
        pl = report["pylaunchd"]
        report["holds"] = (pl["after_activations_vs_baseline"]["holds"] and pl["after_reloads_vs_baseline"]["holds"]
                           and pl["activations"]["lost"] == 0 and pl["reloads"]["lost"] == 0)
        return report
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _mib(snap: dict, base: dict | None, key: str) -> str:
    growth = f" ({100 * (snap[key] - base[key]) / base[key]:+.1f} %)" if base else ""
    return f"{snap[key] / 1024:.1f}{growth}"


def _row(name: str, phase: str, snap: dict, base: dict | None, lost) -> str:
    kinds = ", ".join(f"{k} {v}" for k, v in snap["fd_kinds"].items())
    return (f"| {name} | {phase} | {snap['fds']} ({kinds}) | {snap['threads']} | {snap['zombies']} | "
            f"{_mib(snap, base, 'rss_kib')} | {_mib(snap, base, 'anon_kib')} | {lost} |")


def render(rep: dict) -> str:
    pl, xi = rep["pylaunchd"], rep.get("xinetd") or {}
    n, m = rep["activations_per_kind"], pl["reloads"]["reloads"]
    out = ["| manager | after | open fds (by kind) | threads | zombies | VmRSS MiB (vs baseline) | "
           "RssAnon MiB (vs baseline) | requests lost |",
           "|---|---|---:|---:|---:|---:|---:|---:|",
           _row("pylaunchd", "baseline (warmed up)", pl["baseline"], None, "-"),
           _row("pylaunchd", f"{n:,} activations x 4 kinds", pl["after_activations"], pl["baseline"],
                pl["activations"]["lost"]),
           _row("pylaunchd", f"then {m:,} reloads", pl["after_reloads"], pl["baseline"], pl["reloads"]["lost"])]
    if "baseline" in xi:
        out += [_row("xinetd", "baseline (warmed up)", xi["baseline"], None, "-"),
                _row("xinetd", f"{n:,} activations x 2 kinds", xi["after_activations"], xi["baseline"],
                     xi["activations"]["lost"])]
    a = pl["activations"]
    out += ["", f"pylaunchd: {a['requests']:,} activations in {a['wall_s']:.0f} s ({a['per_s']:.0f}/s, 4 clients); "
                f"{m:,} reloads in {pl['reloads']['wall_s']:.0f} s; runs per job {pl['runs']}; "
                f"exit status {pl['manager_exit']} after SIGTERM."]
    if "baseline" in xi:
        out.append(f"{xi['version']}: {xi['activations']['requests']:,} activations in "
                   f"{xi['activations']['wall_s']:.0f} s ({xi['activations']['per_s']:.0f}/s, 2 clients).")
    elif xi:
        out.append(f"xinetd: {xi['error']}")
    for key in ("after_activations_vs_baseline", "after_reloads_vs_baseline"):
        if pl[key]["differs"]:
            out.append(f"pylaunchd {key.replace('_', ' ')}: {pl[key]['differs']}")
    out.append(f"Holds (fds, threads, zombies equal; anonymous RSS within {rep['rss_tolerance_pct']:g} %; "
               "nothing lost): "
               f"{'yes' if rep['holds'] else '**no**'}. Machine: {rep['machine']['cpus']} CPUs, "
               f"Linux {rep['machine']['kernel']}, Python {rep['machine']['python']}, {rep['machine']['date']}.")
    return "\n".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--activations", type=int, default=10000, help="requests per kind (default 10,000)")
    p.add_argument("--reloads", type=int, default=1000, help="plist rewrites in all (default 1,000)")
    p.add_argument("--reload-jobs", type=int, default=10, help="jobs rewritten per round (default 10)")
    p.add_argument("--warmup", type=int, default=100,
                   help="requests to every job before the baseline (default 100: 200 lines, "
                        "more than a job's in-memory log holds)")
    p.add_argument("--rss-tolerance", type=float, default=5.0,
                   help="growth of the anonymous RSS allowed, %% (default 5)")
    p.add_argument("--no-peer", action="store_true", help="skip xinetd")
    add_report_options(p, "the figures")
    add_repo_option(p)
    args = p.parse_args(argv)
    args.repo = use_repo(args.repo)
    report = report_or_replay(run, args, render, "leaks")
    if report is None:
        return 1
    if args.write:
        from report import write_block

        write_block(HERE.parent / "docs" / "benchmarks.md", "leaks", render(report),
                    "## Leaks (`bench/leaks.py`)")
    return 0 if report["holds"] else 2


if __name__ == "__main__":
    sys.exit(main())

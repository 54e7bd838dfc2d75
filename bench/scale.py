#!/usr/bin/env python3
"""N on-demand jobs: pylaunchd against xinetd (and circus), for N in 100 ... 10,000.

For every N and manager, in the same run: N services (bench/fleet.py: one
socket each, ``/bin/cat`` per connection) in a fresh temporary directory,
then

``bring-up``  from just before the exec of the manager until every one of the
              N sockets listens (/proc/net/tcp, /proc/net/unix, polled every
              5 ms), then checked by connecting to about 20 of them and the
              last one, and for pylaunchd by polling `pylaunchctl list` until
              it shows N jobs (``listed_s``: from the exec to that answer);
``per job``   bring-up / N: flat when the manager scales linearly;
``PSS``       of the manager process (/proc/PID/smaps_rollup);
``idle``      CPU % and wakeups (voluntary + involuntary context switches of
              all threads) over a window with nothing happening: 60 s for
              N >= 10,000, 5 s otherwise (``--idle-seconds`` sets both);
``warm``      ``pylaunchd warm`` is the same manager started a second time on
              the same plists (it ran once and stopped): its boot cache is
              current, so bring-up is a stat and the binds per job; the row
              ``pylaunchd`` is a cold start (no cache: a first boot);
``python``    ``pylaunchd-python`` is the Python manager alone, cold (no C
              front end: built without a compiler, or ``python -m
              pylaunchd``), up to ``--python-max`` jobs; the rows
              ``pylaunchd`` and ``pylaunchd warm`` are the installed command,
              whose C front end (``pylaunchd/_prebind.c``, compiled from the
              tree measured) binds the sockets before Python starts;
``SIGTERM``   to exit, and the exit status (SIGKILL after ``--term-timeout``);
``files``     pylaunchd only: of the unix socket files there before SIGTERM,
              how many are left after the exit.

TCP ports on 127.0.0.1 (distinct free ports, all bound at once and released
just before the manager starts); for pylaunchd 1 % of the jobs, spread over
the list (``--unix-share``), are on unix sockets, so that their removal is checked:
xinetd has no unix sockets and gets N TCP ports. circus (a further peer, up
to ``--circus-max`` jobs) binds a ``[socket:]`` per job before anything runs,
but cannot start a process on a connection: its watchers are not started. A bring-up that does not end
within ``--bringup-timeout`` is reported as "did not finish in T s" and the
rest is still measured. Every process is stopped by PID and every temporary
directory removed, also on SIGTERM.

    python3 bench/scale.py [--sizes 100,300,1000,3000,10000] [--idle-seconds S] [--repo PATH] [--json]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BenchError, add_repo_option, idle_cost, machine, pss_mib, run_and_report,  # noqa: E402
                      use_repo, wait_for)
from fleet import CircusFleet, PylaunchdFleet, XinetdFleet, connect, make_services, raise_nofile, sample  # noqa: E402

SIZES = (100, 300, 1000, 3000, 10000)
WARM = "pylaunchd warm"  # started once before on the same plists and stopped: its boot cache is current
PYTHON_ONLY = "pylaunchd-python"  # the Python manager alone, cold: no C front end binding first
MANAGERS = ("pylaunchd", WARM, PYTHON_ONLY, "xinetd", "circus")


def bring_up(fleet, services, timeout: float) -> dict:
    """Exec the manager and wait until every socket listens; then check some accept."""
    t0 = fleet.start()
    row: dict = {}
    try:
        row["bringup_s"] = fleet.wait_listening(services, timeout) - t0
        row["per_job_ms"] = row["bringup_s"] * 1000 / len(services)
    except TimeoutError as e:
        row.update(bringup_s=None, note=f"did not finish in {timeout:g} s ({e})")
        return row
    probe = sample(services)
    row["sample_accepting"] = f"{sum(connect(s) for s in probe)}/{len(probe)}"
    return row


def listed_count(fleet, n: int, t0: float, timeout: float) -> dict:
    """Poll `pylaunchctl list` until it shows *n* jobs (the control socket may come up
    after the job sockets); the count and when, from the exec."""
    last: list = [None]

    def count():
        try:
            last[0] = fleet.listed()
        except Exception as e:  # noqa: BLE001 - not answering yet, or a timeout: a result too
            last[0] = f"failed: {type(e).__name__}: {e}"
        return last[0] == n

    try:
        wait_for(count, timeout, f"pylaunchctl list to show {n} jobs", 0.05)
        return {"listed": n, "listed_s": time.monotonic() - t0}
    except BenchError:
        return {"listed": last[0], "listed_s": None}


def measure(fleet, services, args, n: int, warm: bool = False) -> dict:
    row = bring_up(fleet, services, args.bringup_timeout)
    if isinstance(fleet, PylaunchdFleet) and row["bringup_s"] is not None:
        row.update(listed_count(fleet, n, fleet.t_exec, args.bringup_timeout))
    try:  # the sample's cat processes reaped
        wait_for(fleet.idle, 10, "the sample connections' processes to exit", 0.02)
    except BenchError:
        pass
    time.sleep(0.3)
    row["pss_mib"] = pss_mib(fleet.pid)
    # The warm start idles like the cold one: its 60 s window at 10,000 is the cold run's.
    window = args.idle_seconds if args.idle_seconds is not None else (60 if n >= 10000 and not warm else 5)
    row["idle"] = idle_cost(fleet.pid, window)
    files = [s.path for s in services if s.path]
    made = [p for p in files if os.path.lexists(p)]  # a bring-up that did not finish made fewer
    row["sigterm"] = fleet.sigterm(args.term_timeout)
    if files:
        left = [p for p in made if os.path.lexists(p)]
        row.update(socket_files_left=f"{len(left)}/{len(made)}", socket_files_made=len(made),
                   socket_files_expected=len(files))
    return row


def one(name: str, n: int, args, notes: list[str]) -> dict:
    root = Path(tempfile.mkdtemp(prefix=f"plbench-scale-{name.replace(' ', '-')}-{n}-", dir="/tmp"))  # no space: /proc/net/unix splits on it
    fleet = None
    try:
        if name in ("pylaunchd", WARM, PYTHON_ONLY):
            fleet = PylaunchdFleet(root, args.repo, front_end=name != PYTHON_ONLY)
            unix = max(1, round(n * args.unix_share)) if args.unix_share > 0 else 0
        else:
            fleet = XinetdFleet(root) if name == "xinetd" else CircusFleet(root)
            unix = 0
        services = make_services(n, root, unix=unix)
        fleet.write_jobs(services)
        if name == WARM:
            fleet.warm_boot_cache(args.bringup_timeout)
        row = measure(fleet, services, args, n, warm=name == WARM)
        row.update(jobs=n, tcp=n - unix, unix=unix)
        return row
    except BenchError as e:
        notes.append(f"{name}, {n} jobs: {e}")
        return {"jobs": n, "error": str(e)}
    finally:
        if fleet is not None:
            fleet.stop()
        shutil.rmtree(root, ignore_errors=True)


def ratios(rows: dict, peer: str = "xinetd", ours: str = "pylaunchd") -> dict:
    a, b = rows.get(ours, {}), rows.get(peer, {})
    out = {}
    for key, get in (("bringup", lambda r: r.get("bringup_s")), ("pss", lambda r: r.get("pss_mib")),
                     ("sigterm_exit", lambda r: (r.get("sigterm") or {}).get("exit_s"))):
        x, y = get(a), get(b)
        out[key] = x / y if x and y else None
    return out


def run(args) -> dict:
    limit = raise_nofile()
    notes = []
    versions = {}
    results = {}
    t_end = time.monotonic() + args.max_seconds
    for n in args.sizes:
        if time.monotonic() > t_end:
            notes.append(f"{n} jobs: not run, the wall-clock bound ({args.max_seconds:g} s) was reached")
            continue
        if n + 100 > limit:
            notes.append(f"{n} jobs: RLIMIT_NOFILE is {limit}; some managers may run short of descriptors")
        names = [m for m in MANAGERS if m in args.managers and (m != "circus" or n <= args.circus_max)
                 and (m != PYTHON_ONLY or n <= args.python_max)]
        if "circus" in args.managers and n > args.circus_max:
            notes.append(f"circus, {n} jobs: not run (--circus-max {args.circus_max})")
        rows = {name: one(name, n, args, notes) for name in names}
        rows["ratios"] = ratios(rows)
        if WARM in rows:
            rows["ratios_warm"] = ratios(rows, ours=WARM)
        if PYTHON_ONLY in rows:
            rows["ratios_python"] = ratios(rows, ours=PYTHON_ONLY)
        if "circus" in rows:
            rows["ratios_circus"] = ratios(rows, "circus")
        results[str(n)] = rows
    for cls, extra in ((PylaunchdFleet, (args.repo,)), (XinetdFleet, ()), (CircusFleet, ())):
        root = Path(tempfile.mkdtemp(prefix="plbench-scale-v-", dir="/tmp"))
        try:
            f = cls(root, *extra)
            versions[f.name] = f.version()
        except BenchError as e:
            versions[cls.name] = str(e)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return {"machine": machine(), "versions": versions, "sizes": args.sizes, "unix_share": args.unix_share,
            "bringup_timeout_s": args.bringup_timeout, "results": results, "notes": notes}


def fmt(x, spec: str, none: str = "-") -> str:
    return none if x is None else format(x, spec)


def render(report: dict) -> str:
    m = report["machine"]
    lines = [f"N on-demand jobs; {m['date']}; {m['cpus']} CPUs {m['cpu']}, Linux {m['kernel']}, "
             f"Python {m['python']}", "; ".join(report["versions"].values()), "",
             f"{'jobs':>6} {'manager':<15} {'bring-up s':>10} {'ms/job':>7} {'check':>8} {'PSS MiB':>8} "
             f"{'idle CPU%':>9} {'wake/min':>9} {'TERM s':>7} {'status':>6} {'files':>7}"]
    for n, rows in report["results"].items():
        for name in MANAGERS:
            r = rows.get(name)
            if r is None:
                continue
            idle, term = r.get("idle") or {}, r.get("sigterm") or {}
            lines.append(f"{n:>6} {name:<15} {fmt(r.get('bringup_s'), '.3f', 'DNF'):>10} "
                         f"{fmt(r.get('per_job_ms'), '.2f'):>7} {r.get('sample_accepting', '-'):>8} "
                         f"{fmt(r.get('pss_mib'), '.1f'):>8} {fmt(idle.get('cpu_pct'), '.2f'):>9} "
                         f"{fmt(idle.get('wakeups_per_min'), '.1f'):>9} {fmt(term.get('exit_s'), '.3f', 'KILL'):>7} "
                         f"{fmt(term.get('status'), 'd'):>6} {r.get('socket_files_left', '-'):>7}")
            for key in ("note", "error"):
                if r.get(key):
                    lines.append(f"       {name}: {r[key]}")
            if isinstance(r.get("listed"), str) or (r.get("listed") not in (None, r.get("jobs"))):
                lines.append(f"       pylaunchctl list: {r.get('listed')}")
    lines.append("")
    lines.append("ratios pylaunchd / xinetd: " + "; ".join(
        f"{n}: bring-up {fmt(rows['ratios']['bringup'], '.2f')}x, PSS {fmt(rows['ratios']['pss'], '.2f')}x"
        for n, rows in report["results"].items()))
    lines += [f"note: {x}" for x in report["notes"]]
    return "\n".join(lines)


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=list(SIZES),
                   help="numbers of jobs, comma-separated (default 100,300,1000,3000,10000)")
    p.add_argument("--idle-seconds", type=float, default=None,
                   help="idle window of every size (default 60 s for 10,000 jobs and more, else 5 s)")
    p.add_argument("--bringup-timeout", type=float, default=90, help="s to wait for every socket (default 90)")
    p.add_argument("--term-timeout", type=float, default=15, help="s from SIGTERM to SIGKILL (default 15)")
    p.add_argument("--unix-share", type=float, default=0.01,
                   help="share of pylaunchd's jobs on unix sockets (default 0.01, at least 1 job)")
    p.add_argument("--managers", type=lambda s: s.split(","), default=list(MANAGERS))
    p.add_argument("--circus-max", type=int, default=1000,
                   help="largest N circus is run with (default 1000: it has no on-demand start anyway)")
    p.add_argument("--python-max", type=int, default=1000,
                   help="largest N for pylaunchd-python, the Python manager alone (default 1000)")
    p.add_argument("--max-seconds", type=float, default=600, help="no new size after this (default 600)")
    p.add_argument("--json", action="store_true")
    add_repo_option(p)
    args = p.parse_args(argv)
    args.repo = use_repo(args.repo)
    return args


def main(argv=None) -> int:
    report = run_and_report(run, parse(argv), render, "scale")
    return 0 if report is not None else 1


if __name__ == "__main__":
    sys.exit(main())

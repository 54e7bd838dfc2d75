#!/usr/bin/env python3
"""Reload latency: a plist written, changed or deleted -> its socket, pylaunchd against xinetd.

Both managers run at once on a few base services (bench/fleet.py); the trials
of every case alternate between them. Cases, each timed from just before the
file is written (or deleted) until the effect is seen from outside:

``new (rename)``  a new plist written to a temporary name in the jobs
                  directory and renamed into place, as editors and
                  ``brew services`` save -> its socket accepts a connection;
``new (write)``   a new plist written in place (open, write, close) -> accepts;
``half-written``  in place, the first half, a 50 ms pause, the rest (a few
                  trials): the manager must never load the half file;
``port change``   an existing plist re-saved (rename) with another port -> the
                  new port accepts;
``delete``        a plist removed -> its socket no longer listens
                  (a bind to its port succeeds: no /proc/net/tcp, whose read
                  took up to 80 ms on a busy machine and was most of the
                  figure), then one connection must be refused.

Connections are tried every 0.5 ms. xinetd cannot notice a changed
configuration by itself: it gets the whole configuration re-written
(rename) and a SIGHUP right after, inside the timed window. At the end the
manager's log is read: every new label must have been loaded once and every
port change reloaded once (an editor's save is one reload), and no plist may
have failed to load (a half-written file).

    python3 bench/reload.py [--trials 50] [--repo PATH] [--json]
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
from benchlib import add_repo_option, distribution, machine, run_and_report, time_until, use_repo  # noqa: E402
from fleet import (PylaunchdFleet, Service, XinetdFleet, alloc_ports, connect, make_services,  # noqa: E402
                   port_listens, raise_nofile)

CASES = ("new (rename)", "new (write)", "half-written", "port change", "delete")


def accepts(service: Service):
    return lambda: connect(service, 1)


def gone(service: Service):
    return lambda: not port_listens(service.port) and not connect(service, 1)


class PylaunchdSide:
    """Changes made the way a user (or an editor) makes them: files in the jobs directory."""

    def __init__(self, fleet: PylaunchdFleet) -> None:
        self.fleet = fleet

    def save(self, service: Service, how: str) -> None:
        path, data = self.fleet.plist_path(service), self.fleet.plist(service)
        if how == "rename":
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, path)
        elif how == "half":
            with open(path, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                time.sleep(0.05)
                f.write(data[len(data) // 2:])
        else:
            with open(path, "wb") as f:
                f.write(data)

    def delete(self, service: Service) -> None:
        os.unlink(self.fleet.plist_path(service))


class XinetdSide:
    """The whole configuration re-written and a SIGHUP: xinetd does not watch its file."""

    def __init__(self, fleet: XinetdFleet, services: list[Service]) -> None:
        self.fleet = fleet
        self.services = {s.name: s for s in services}

    def save(self, service: Service, how: str) -> None:
        self.services[service.name] = service
        self.fleet.write_jobs(list(self.services.values()))
        self.fleet.hup()

    def delete(self, service: Service) -> None:
        del self.services[service.name]
        self.fleet.write_jobs(list(self.services.values()))
        self.fleet.hup()


def trial(side, case: str, i: int, state: dict, timeout: float) -> float | None:
    """One change and the time until its effect; *state* keeps the services made so far."""
    mine = state.setdefault(id(side), {})
    if case == "delete":
        service = mine.pop(f"new{i}")
        t0 = time.monotonic()
        side.delete(service)
        return time_until(gone(service), t0, timeout)
    if case == "port change":
        old = mine[f"new{i}"]
        service = Service(old.name, port=alloc_ports(1)[0])
        how = "rename"
    else:
        how, tag = {"new (rename)": ("rename", "nr"), "new (write)": ("write", "nw"), "half-written": ("half", "nh")}[case]
        service = Service(f"{tag}{i:03d}", port=alloc_ports(1)[0])
    t0 = time.monotonic()
    side.save(service, how)
    elapsed = time_until(accepts(service), t0, timeout)
    if case in ("new (rename)", "port change"):
        mine[f"new{i}"] = service
    return elapsed


def log_checks(fleet: PylaunchdFleet, trials: int) -> dict:
    """Loads and reloads the manager logged for the trials (after a second of quiet)."""
    time.sleep(1)
    return {"loaded_lines": fleet.log_count("loaded from"), "reload_lines": fleet.log_count("reloading from"),
            "not_loaded_lines": fleet.log_count("not loaded"), "expected_reloads": trials}


def run_cases(sides: dict, args) -> dict:
    state: dict = {}
    results = {case: {name: [] for name in sides} for case in CASES}
    for case in CASES:
        n = min(args.trials, args.half_trials) if case == "half-written" else args.trials
        for i in range(n):
            for name, side in sides.items():
                if case == "half-written" and name == "xinetd":
                    continue  # xinetd reads its file on SIGHUP only: it never sees one half-written
                results[case][name].append(trial(side, case, i, state, args.timeout))
                time.sleep(args.settle / 1000)
    return results


def run(args) -> dict:
    raise_nofile()
    root = Path(tempfile.mkdtemp(prefix="plbench-reload-", dir="/tmp"))
    fleets = []
    try:
        pl, xi = PylaunchdFleet(root, args.repo), XinetdFleet(root)
        fleets = [pl, xi]
        base = {f: make_services(args.jobs, root, prefix=f"base{f.name[0]}") for f in fleets}
        for f in fleets:
            f.write_jobs(base[f])
            f.start()
            f.wait_listening(base[f], 60)
        # The base jobs' "loaded from" lines come after their sockets listen
        # (boot binds them first): counted once all are there, not before.
        pl.wait_ready(pl.log, "the base jobs' loads to be logged",
                      lambda: pl.log_count("loaded from") >= len(base[pl]), 60, 0.01)
        base_loads = pl.log_count("loaded from")
        pl.listed()  # and the control server is up: the manager's start-up is over before the first trial
        sides = {"pylaunchd": PylaunchdSide(pl), "xinetd": XinetdSide(xi, base[xi])}
        raw = run_cases(sides, args)
        checks = log_checks(pl, args.trials)
        checks["loaded_lines"] -= base_loads
        checks["expected_loads"] = 2 * args.trials + min(args.trials, args.half_trials)
        results = {case: {name: distribution(v) for name, v in rows.items()} for case, rows in raw.items()}
        for rows in results.values():
            a, b = rows["pylaunchd"].get("p50_ms"), rows.get("xinetd", {}).get("p50_ms")
            rows["ratio_p50"] = a / b if a and b else None
        return {"machine": machine(), "versions": {f.name: f.version() for f in fleets}, "trials": args.trials,
                "base_jobs": args.jobs, "results": results, "log_checks": checks}
    finally:
        for f in fleets:
            f.stop()
        shutil.rmtree(root, ignore_errors=True)


def render(report: dict) -> str:
    m = report["machine"]
    lines = [f"reload latency, {report['trials']} trials per case, {report['base_jobs']} base jobs; {m['date']}; "
             f"{m['cpus']} CPUs, Linux {m['kernel']}", "; ".join(report["versions"].values()), "",
             f"{'case':<14} {'manager':<10} {'n':>4} {'failed':>6} {'p50 ms':>8} {'p90 ms':>8} {'max ms':>8} {'ratio':>7}"]
    for case, rows in report["results"].items():
        for name in ("pylaunchd", "xinetd"):
            r = rows.get(name)
            if not r or not r["n"]:
                continue
            ratio = rows["ratio_p50"] if name == "pylaunchd" and rows["ratio_p50"] else None
            lines.append(f"{case:<14} {name:<10} {r['n']:4d} {r['failed']:6d} {r.get('p50_ms', float('nan')):8.2f} "
                         f"{r.get('p90_ms', float('nan')):8.2f} {r.get('max_ms', float('nan')):8.2f} "
                         f"{'' if ratio is None else format(ratio, '.1f') + 'x':>7}")
    c = report["log_checks"]
    lines += ["", f"pylaunchd log: {c['loaded_lines']} loads for {c['expected_loads']} new plists, "
              f"{c['reload_lines']} reloads for {c['expected_reloads']} editor saves, "
              f"{c['not_loaded_lines']} 'not loaded' errors",
              "note: xinetd cannot notice a changed file: it got a SIGHUP after each write; "
              "the half-written case does not apply to it"]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=50, help="trials per case and manager (default 50)")
    p.add_argument("--half-trials", type=int, default=5, help="trials of the half-written case (default 5)")
    p.add_argument("--jobs", type=int, default=20, help="services loaded before the trials (default 20)")
    p.add_argument("--timeout", type=float, default=10, help="s before a trial counts as failed (default 10)")
    p.add_argument("--settle", type=float, default=20, help="ms between trials (default 20)")
    p.add_argument("--json", action="store_true")
    add_repo_option(p)
    args = p.parse_args(argv)
    args.repo = use_repo(args.repo)
    report = run_and_report(run, args, render, "reload")
    return 0 if report is not None else 1


if __name__ == "__main__":
    sys.exit(main())

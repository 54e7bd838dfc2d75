#!/usr/bin/env python3
"""Per-connection spawn throughput: pylaunchd against xinetd and systemd-socket-activate.

What is measured: how many connections per second a manager serves when it
starts one process per connection (inetd "nowait"), and how long each of
those connections takes, in two modes:

``sequential``  one client: connect, send a line, shut down its sending side,
                read the reply until the server closes, close; then the next
                connection. Each connection is fully served and closed before
                the next one starts.
``concurrent``  8 client threads (``--clients``) doing the same at once, the
                same number of connections each.

Per-connection latency is timed from just before ``connect()`` to the end of
the reply (EOF). Throughput is the number of connections divided by the wall
time of the batches that made them. Every reply is checked: it must be the
exact line sent (each connection sends a different one).

The same per-connection program runs under every manager: ``/bin/cat`` on
fds 0-2, so the manager's per-connection cost (accept, fork, set-up, exec,
reap) is what shows. The managers:

* pylaunchd (``python -m pylaunchd`` on a private jobs directory
  and control socket, default log level): a plist with ``inetdCompatibility``
  ``Wait`` false, ``ThrottleInterval`` 0 and its socket on 127.0.0.1 port 0;
  the port is read back with the ``print`` control request.
* xinetd, on a private configuration file (``xinetd -dontfork -f CONF
  -pidfile ... -filelog ...``): an ``UNLISTED`` stream service, ``wait = no``,
  bound to 127.0.0.1, ``instances`` and ``per_source`` ``UNLIMITED`` and
  ``cps = 0 0``. xinetd's default ``cps`` is ``50 10``: past 50 connections a
  second it disables the service for 10 seconds, which this benchmark would
  trip at once; ``0`` turns the check off (xinetd skips it when the rate is 0).
  Per-connection logging is off (``log_on_success`` empty), as pylaunchd logs
  a connection only at debug level; failures are logged to a file.
* ``systemd-socket-activate --accept --inetd -l 127.0.0.1:PORT /bin/cat``.

The batches of every (mode, manager) pair are interleaved, in a shuffled
order each round, so that a noisy machine disturbs all of them alike; before
each batch the benchmark waits until the manager has no child left (the
previous batch's processes reaped) and then a short settle time. A few
untimed warm-up connections go to each manager first. A wall-clock bound
(``--max-seconds``) stops the rounds early (with a note) on a machine far
slower than expected.

Standard library only (plus pylaunchd, started as a subprocess), 127.0.0.1
only, free ports; everything started is stopped by PID and the temporary
directory removed, also on SIGTERM or Ctrl-C.
Usage: ``python3 bench/spawn_throughput.py [--sequential N] [--clients C]
[--per-client N] [--rounds R] [--json]``. A benchmark, not a test: it exits 0
whatever the figures are, and 1 if any connection failed or a manager could
not be run.
"""

from __future__ import annotations

import argparse
import os
import platform
import plistlib
import pwd
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import REPO as DEFAULT_REPO  # noqa: E402
from benchlib import (HOST, BenchError, add_repo_option, free_port, python, percentile, proc_children,  # noqa: E402
                      Peer, log_tail, repo_env, run_and_report, terminate, use_repo, wait_for)
from fleet import listening_ports, xinetd_version  # noqa: E402

CAT = shutil.which("cat") or "/bin/cat"
SSA = shutil.which("systemd-socket-activate") or "/usr/bin/systemd-socket-activate"
XINETD = shutil.which("xinetd") or "/usr/sbin/xinetd"
REPO = DEFAULT_REPO  # the tree measured: --repo (main() sets it before anything imports pylaunchd)

MANAGERS = ("pylaunchd", "pylaunchd-python", "xinetd", "systemd-socket-activate")
PEERS = MANAGERS[2:]
MODES = ("sequential", "concurrent")


# ---------------------------------------------------------------------------
# small helpers


def exchange(port: int, payload: bytes, timeout: float) -> tuple[float, str | None]:
    """One connection: send *payload*, half-close, read to EOF. Returns the
    time from connect() to EOF and an error (None when the echo was right)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.perf_counter()
    try:
        s.connect((HOST, port))
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            chunks.append(chunk)
    except OSError as e:
        return time.perf_counter() - t0, f"{type(e).__name__}: {e}"
    finally:
        s.close()
    elapsed = time.perf_counter() - t0
    reply = b"".join(chunks)
    return elapsed, None if reply == payload else f"wrong reply {reply[:60]!r} for {payload!r}"


# ---------------------------------------------------------------------------
# the managers: start() binds and waits until ready, .port, .pid, idle(), stop()


class Pylaunchd(Peer):
    name = "pylaunchd"
    label = "bench.spawn_throughput.cat"

    def __init__(self, root: Path, name: str = "pylaunchd", env: dict[str, str] | None = None):
        from pylaunchd.control.protocol import request  # noqa: F401 - fail early without pylaunchd

        super().__init__()
        self.name = name
        self.env = env or {}
        self.jobs_dir = root / f"{name}-jobs"
        self.jobs_dir.mkdir()
        self.state_dir = root / f"{name}-state"
        self.control = str(root / f"{name}.sock")
        self.log = root / f"{name}.log"
        plist = {
            "Label": self.label,
            "ProgramArguments": [CAT],
            "Sockets": {"Listeners": {"SockNodeName": HOST, "SockServiceName": "0", "SockFamily": "IPv4"}},
            "inetdCompatibility": {"Wait": False},
            "ThrottleInterval": 0,
        }
        (self.jobs_dir / f"{self.label}.plist").write_bytes(plistlib.dumps(plist))

    def request(self, verb: str, args: dict | None = None):
        from pylaunchd.control.protocol import request

        return request(self.control, verb, args, timeout=10)

    def info(self):
        from pylaunchd.control.protocol import ControlError

        try:
            return self.request("print", {"label": self.label})
        except ControlError:
            return None

    def start(self) -> None:
        env = repo_env(REPO, **self.env)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [python(), "-m", "pylaunchd", "--jobs-dir", str(self.jobs_dir),
                 "--control-socket", self.control, "--state-dir", str(self.state_dir)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env)

        def loaded():
            try:
                return self.info()
            except Exception:  # noqa: BLE001 - not answering yet
                return None

        info = self.wait_ready(self.log, f"pylaunchd to load {self.label}", loaded, 20, 0.02)
        self.port = info["sockets"][0]["address"]["port"]

    def summary(self) -> dict:
        info = self.info() or {}
        sockets = info.get("sockets") or [{}]
        return {"runs": info.get("runs"), "accepted": sockets[0].get("accepted"),
                "state": info.get("state"), "spawn_error": info.get("spawn_error"),
                "last_exit": info.get("last_exit")}

    def stop(self) -> None:
        terminate(self.proc, 30)

    def version(self) -> str:
        """pylaunchd's version and the spawn path its start log names."""
        try:
            from importlib.metadata import version

            text = f"{self.name} {version('pylaunchd')}"
        except Exception:  # noqa: BLE001
            text = self.name
        for line in self.log.read_text(errors="replace").splitlines():
            if "spawn path: " in line:
                return f"{text} (spawn path {line.split('spawn path: ', 1)[1].strip()})"
        return text


class Xinetd(Peer):
    name = "xinetd"

    def __init__(self, root: Path):
        super().__init__()
        self.conf = root / "xinetd.conf"
        self.pidfile = root / "xinetd.pid"
        self.log = root / "xinetd.log"  # xinetd's own messages
        self.service_log = root / "xinetd-service.log"  # the service's (failures only)

    def start(self) -> None:
        if not os.access(XINETD, os.X_OK):
            raise BenchError(f"{XINETD} not found: install the Debian package xinetd")
        self.port = free_port()
        user = pwd.getpwuid(os.getuid()).pw_name
        self.conf.write_text(f"""\
# Private configuration written by bench/spawn_throughput.py.
defaults
{{
}}

service plbench
{{
    type            = UNLISTED
    id              = plbench
    socket_type     = stream
    protocol        = tcp
    port            = {self.port}
    bind            = {HOST}
    wait            = no
    user            = {user}
    server          = {CAT}
    instances       = UNLIMITED
    per_source      = UNLIMITED
    # The default is "cps = 50 10": over 50 connections/s the service is
    # disabled for 10 s. 0 turns the check off.
    cps             = 0 0
    log_type        = FILE {self.service_log}
    log_on_success  =
    log_on_failure  = HOST
}}
""")
        self.proc = subprocess.Popen(
            [XINETD, "-dontfork", "-f", str(self.conf), "-pidfile", str(self.pidfile),
             "-filelog", str(self.log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        self.wait_ready(self.log, f"xinetd to listen on {HOST}:{self.port}", lambda: self.port in listening_ports())

    def summary(self) -> dict:
        # FAIL lines of the service (e.g. "FAIL: plbench connections per second from=..."),
        # ERROR lines of xinetd itself (e.g. "Deactivating service ... excessive incoming connections").
        failures = [line for line in log_tail(self.service_log, 10**7).splitlines() if "FAIL" in line]
        failures += [line for line in log_tail(self.log, 10**7).splitlines() if "ERROR" in line]
        return {"logged_failures": len(failures), "failure_sample": failures[:3]}

    def version(self) -> str:
        return xinetd_version()


class SystemdSocketActivate(Peer):
    name = "systemd-socket-activate"

    def __init__(self, root: Path):
        super().__init__()
        self.log = root / "ssa.log"

    def start(self) -> None:
        if not os.access(SSA, os.X_OK):
            raise BenchError(f"{SSA} not found: install the Debian package systemd")
        self.port = free_port()
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([SSA, "--accept", "--inetd", "-l", f"{HOST}:{self.port}", CAT],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)

        self.wait_ready(self.log, f"{SSA} to listen on {HOST}:{self.port}",
                        lambda: self.port in listening_ports() and b"Listening on" in self.log.read_bytes())

    def summary(self) -> dict:
        died = [line for line in log_tail(self.log, 10**7).splitlines()
                if "died with" in line and not line.rstrip().endswith("code 0")]
        return {"nonzero_child_exits": len(died), "sample": died[:3]}

    def version(self) -> str:
        try:
            out = subprocess.run([SSA, "--version"], capture_output=True, text=True, timeout=10).stdout
            return out.splitlines()[0] if out else "systemd-socket-activate"
        except (OSError, subprocess.TimeoutExpired):
            return "systemd-socket-activate"


# ---------------------------------------------------------------------------
# the benchmark


class Tally:
    """What one (mode, manager) pair accumulated over the rounds."""

    def __init__(self):
        self.latencies: list[float] = []
        self.wall = 0.0
        self.conns = 0
        self.round_rates: list[float] = []
        self.errors: list[str] = []
        self.skipped = 0  # not made: the wall-clock bound was reached


def batch(port: int, clients: int, per_client: int, tag: str, timeout: float,
          deadline: float) -> tuple[float, list[float], list[str], int]:
    """*clients* threads (or the calling thread alone when 1) each making
    *per_client* connections one after the other. Returns the wall time from
    the start signal to the last reply, the latencies, the errors and the
    number of connections not made because the wall-clock bound was reached."""
    results: list[tuple[list[float], list[str]]] = [([], []) for _ in range(clients)]
    skipped = [0] * clients

    def client(i: int) -> None:
        lat, errs = results[i]
        for k in range(per_client):
            if time.monotonic() > deadline:
                skipped[i] = per_client - k
                return
            elapsed, err = exchange(port, f"{tag} c{i} n{k}\n".encode(), timeout)
            if err is None:
                lat.append(elapsed)
            else:
                errs.append(err)

    if clients == 1:
        t0 = time.perf_counter()
        client(0)
        wall = time.perf_counter() - t0
    else:
        start = threading.Barrier(clients + 1)

        def run(i: int) -> None:
            start.wait()
            client(i)

        threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(clients)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    latencies = [x for lat, _ in results for x in lat]
    errors = [e for _, errs in results for e in errs]
    return wall, latencies, errors, sum(skipped)


def split(total: int, parts: int) -> list[int]:
    """*total* as *parts* near-equal positive counts (fewer parts if total is small)."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run(args) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="plbench-spawn-", dir="/tmp"))
    managers: dict[str, object] = {}
    notes: list[str] = []
    try:
        # pylaunchd twice: its default spawn path (C where pylaunchd._spawn
        # is built) and the Python paths (posix_spawn, fork), in the same run.
        managers = {"pylaunchd": Pylaunchd(tmp),
                    "pylaunchd-python": Pylaunchd(tmp, "pylaunchd-python", {"PYLAUNCHD_SPAWN": "python"}),
                    "xinetd": Xinetd(tmp),
                    "systemd-socket-activate": SystemdSocketActivate(tmp)}
        for m in managers.values():
            m.start()
        versions = {name: m.version() for name, m in managers.items()}

        def settle(m) -> None:
            try:
                wait_for(m.idle, 20, f"{m.name}'s per-connection processes to be reaped")
            except BenchError as e:
                raise BenchError(f"{e}; children: {proc_children(m.pid)}") from None
            time.sleep(args.settle / 1000)

        t_start = time.monotonic()
        deadline = t_start + args.max_seconds
        # Warm-up: untimed, but checked.
        warm_errors: dict[str, list[str]] = {}
        for name, m in managers.items():
            settle(m)
            _, _, errs, _ = batch(m.port, 1, args.warmup, f"warm {name}", args.timeout, deadline)
            warm_errors[name] = errs

        seq_batches = split(args.sequential, args.rounds)
        conc_batches = split(args.per_client, args.rounds)
        rounds = max(len(seq_batches), len(conc_batches))
        tallies = {(mode, name): Tally() for mode in MODES for name in managers}
        rng = random.Random(args.seed)
        rounds_done = 0
        for r in range(rounds):
            if time.monotonic() > deadline:
                notes.append(f"wall-clock bound ({args.max_seconds:g} s) reached: "
                             f"{rounds_done} of {rounds} rounds made")
                break
            pairs = [(mode, name) for mode in MODES for name in managers]
            rng.shuffle(pairs)
            for mode, name in pairs:
                if mode == "sequential":
                    if r >= len(seq_batches):
                        continue
                    clients, per = 1, seq_batches[r]
                else:
                    if r >= len(conc_batches):
                        continue
                    clients, per = args.clients, conc_batches[r]
                m = managers[name]
                settle(m)
                wall, lat, errs, skipped = batch(m.port, clients, per, f"{mode[0]}{r} {name}",
                                                 args.timeout, deadline)
                t = tallies[(mode, name)]
                t.skipped += skipped
                t.wall += wall
                t.conns += len(lat)
                t.latencies += lat
                t.errors += errs
                if lat:
                    t.round_rates.append(len(lat) / wall)
            rounds_done += 1
        wall_total = time.monotonic() - t_start
        for m in managers.values():
            settle(m)

        results = {}
        failures = 0
        for mode in MODES:
            results[mode] = {}
            for name in managers:
                t = tallies[(mode, name)]
                failures += len(t.errors)
                if t.skipped:
                    notes.append(f"{mode} under {name}: {t.skipped} connections not made "
                                 f"(wall-clock bound reached during the batch)")
                row = {"connections": t.conns, "failures": len(t.errors),
                       "error_sample": sorted(set(t.errors))[:3], "wall_s": t.wall,
                       "conns_per_s": t.conns / t.wall if t.wall > 0 and t.conns else 0.0,
                       "round_conns_per_s_min": min(t.round_rates) if t.round_rates else 0.0,
                       "round_conns_per_s_max": max(t.round_rates) if t.round_rates else 0.0}
                if t.latencies:
                    row.update(p50_ms=percentile(t.latencies, 50) * 1000,
                               p90_ms=percentile(t.latencies, 90) * 1000,
                               max_ms=max(t.latencies) * 1000)
                results[mode][name] = row
            a = results[mode]["pylaunchd"]
            results[mode]["ratios"] = {}
            results[mode]["python_paths_ratios"] = {}
            for peer in PEERS:
                b, c = results[mode][peer], results[mode]["pylaunchd-python"]
                if c["conns_per_s"] and b["conns_per_s"]:
                    results[mode]["python_paths_ratios"][peer] = {"conns_per_s": c["conns_per_s"] / b["conns_per_s"]}
                b = results[mode][peer]
                if a["conns_per_s"] and b["conns_per_s"] and "p50_ms" in a and "p50_ms" in b:
                    results[mode]["ratios"][peer] = {
                        "conns_per_s": a["conns_per_s"] / b["conns_per_s"],
                        "p50": a["p50_ms"] / b["p50_ms"],
                        "p90": a["p90_ms"] / b["p90_ms"],
                    }
        for name, errs in warm_errors.items():
            if errs:
                failures += len(errs)
                notes.append(f"warm-up under {name}: {len(errs)} failures, e.g. {errs[0]}")
        summaries = {name: m.summary() for name, m in managers.items()}
        made = args.warmup + sum(results[mode]["pylaunchd"]["connections"] + results[mode]["pylaunchd"]["failures"]
                                 for mode in MODES)
        pl = summaries["pylaunchd"]
        if pl.get("runs") is not None and pl["runs"] != made:
            notes.append(f"pylaunchd started {pl['runs']} instances for {made} connections attempted")
        if pl.get("spawn_error"):
            notes.append(f"pylaunchd spawn error: {pl['spawn_error']}")
        if summaries["xinetd"]["logged_failures"]:
            failures += summaries["xinetd"]["logged_failures"]
            notes.append(f"xinetd logged {summaries['xinetd']['logged_failures']} failures, e.g. "
                         f"{summaries['xinetd']['failure_sample'][0]}")
        if summaries["systemd-socket-activate"]["nonzero_child_exits"]:
            notes.append(f"systemd-socket-activate: {summaries['systemd-socket-activate']['nonzero_child_exits']} "
                         f"children exited non-zero, e.g. {summaries['systemd-socket-activate']['sample'][0]}")
        return {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "machine": {"cpus": os.cpu_count(), "kernel": platform.release(), "arch": platform.machine(),
                        "python": platform.python_version()},
            "versions": versions,
            "program": CAT,
            "sequential": args.sequential, "clients": args.clients, "per_client": args.per_client,
            "rounds": rounds, "rounds_done": rounds_done, "warmup": args.warmup, "settle_ms": args.settle,
            "seed": args.seed, "wall_s": round(wall_total, 1), "failures": failures,
            "results": results, "summaries": summaries, "notes": notes,
        }
    finally:
        for m in managers.values():
            try:
                m.stop()
            except Exception as e:  # noqa: BLE001 - stop the others anyway
                print(f"stopping {m.name}: {e}", file=sys.stderr)
        shutil.rmtree(tmp, ignore_errors=True)


def render(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"per-connection spawn throughput, {report['program']} per connection; "
        f"sequential {report['sequential']} conns, concurrent {report['clients']}x{report['per_client']}, "
        f"{report['rounds_done']}/{report['rounds']} interleaved rounds, {report['wall_s']} s",
        f"{report['date']}; {m['cpus']} CPUs, Linux {m['kernel']} {m['arch']}, Python {m['python']}",
        "; ".join(report["versions"].values()),
        "",
        f"{'mode':<12} {'manager':<24} {'conns':>6} {'fail':>5} {'conns/s':>9} {'rounds min-max':>15} "
        f"{'p50 ms':>8} {'p90 ms':>8} {'max ms':>8}",
    ]
    for mode in MODES:
        for name in MANAGERS:
            r = report["results"][mode][name]
            spread = f"{r['round_conns_per_s_min']:.0f}-{r['round_conns_per_s_max']:.0f}"
            lines.append(f"{mode:<12} {name:<24} {r['connections']:6d} {r['failures']:5d} "
                         f"{r['conns_per_s']:9.1f} {spread:>15} {r.get('p50_ms', float('nan')):8.2f} "
                         f"{r.get('p90_ms', float('nan')):8.2f} {r.get('max_ms', float('nan')):8.2f}")
    lines += ["", f"{'ratio pylaunchd / peer':<12} {'peer':<24} {'conns/s':>9} {'p50':>8} {'p90':>8}"]
    for mode in MODES:
        for peer, q in report["results"][mode]["ratios"].items():
            lines.append(f"{mode:<22} {peer:<24} {q['conns_per_s']:8.2f}x {q['p50']:7.2f}x {q['p90']:7.2f}x")
    lines += ["", f"{'ratio pylaunchd-python (PYLAUNCHD_SPAWN=python) / peer':<56} {'conns/s':>9}"]
    for mode in MODES:
        for peer, q in report["results"][mode].get("python_paths_ratios", {}).items():
            lines.append(f"{mode:<12} {peer:<43} {q['conns_per_s']:8.2f}x")
    for note in report["notes"]:
        lines.append(f"note: {note}")
    for mode in MODES:
        for name in MANAGERS:
            r = report["results"][mode][name]
            if r["failures"]:
                lines.append(f"FAILED: {mode} under {name}: {r['failures']} connections, e.g. "
                             f"{'; '.join(r['error_sample'])}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sequential", type=int, default=500, help="connections of the sequential client (default 500)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    p.add_argument("--per-client", type=int, default=100, help="connections per concurrent client (default 100)")
    p.add_argument("--rounds", type=int, default=20,
                   help="interleaved rounds the connections are split into (default 20)")
    p.add_argument("--warmup", type=int, default=10, help="untimed connections to each manager first (default 10)")
    p.add_argument("--settle", type=float, default=50, help="ms to wait before each batch (default 50)")
    p.add_argument("--timeout", type=float, default=10, help="socket timeout of one connection, s (default 10)")
    p.add_argument("--max-seconds", type=float, default=100,
                   help="wall-clock bound: no new round (or connection) after it (default 100)")
    p.add_argument("--seed", type=int, default=1, help="seed of the interleaving order")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    add_repo_option(p)
    args = p.parse_args(argv)
    global REPO
    REPO = use_repo(args.repo)
    for opt in ("sequential", "clients", "per_client", "rounds"):
        if getattr(args, opt) < 1:
            p.error(f"--{opt.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        p.error("--warmup must not be negative")
    report = run_and_report(run, args, render, "spawn throughput")
    if report is None:
        return 1
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

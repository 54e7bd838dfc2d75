#!/usr/bin/env python3
"""Re-exec under load: pylaunchd re-execs itself while 16 clients hammer three jobs.

Three jobs, each on its own TCP port on 127.0.0.1:

``listen``    a LISTEN_FDS server (tests/jobs/line_server.py) kept alive;
``inetd``     inetdCompatibility Wait false: one ``/bin/sh`` per connection;
``ondemand``  a LISTEN_FDS server started by its first client, which exits
              after 200 connections and is started again by the next.

16 client threads each connect, send a line and read the answer, over and
over, to any of the three, while the manager is told ``pylaunchctl reexec``
N times (default 20). Every connection is counted: answered, refused, reset,
timed out, or closed without an answer; the goal is zero of all but the
first. Per re-exec, the pause: from the request to the control socket
answering the new process (what pylaunchctl reexec prints, the check of the
new code included), and the gap: from the exec to the new process having
taken over (the time new clients wait in the kernel's queues). Before and after,
``print`` of each job: the kept-alive server's PID and runs must not change,
and the inetd job's ``accepted`` counter must have grown by exactly the
number of its answered connections (the counters survive every exec).

The peer, in the same run: supervisord (``supervisorctl reload``, its
re-read-everything restart) with a server that binds its own port, under the
same clients: how long until it answers again, and what its clients lose.

    python3 bench/reexec.py [--reexecs 20] [--clients 16] [--repo PATH] [--json]
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import plistlib
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
from benchlib import (BenchError, add_repo_option, distribution, free_port, machine, pylaunchctl_argv,  # noqa: E402
                      pylaunchd_argv, repo_env, run_and_report, terminate, use_repo, wait_for)

LINE_SERVER = Path(__file__).resolve().parent.parent / "tests" / "jobs" / "line_server.py"
OUTCOMES = ("answered", "refused", "reset", "timeout", "unanswered")


class Load:
    """*clients* threads, each connecting to a random one of *ports* (name ->
    port) again and again until :meth:`stop`; every connection's outcome is
    counted, by job."""

    def __init__(self, ports: dict[str, int], clients: int = 16, timeout: float = 30.0):
        self.ports, self.timeout = ports, timeout
        self.counts = {name: dict.fromkeys(OUTCOMES, 0) for name in ports}
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def start(self) -> "Load":
        for t in self._threads:
            t.start()
        return self

    def stop(self) -> dict:
        self._stop.set()
        for t in self._threads:
            t.join(self.timeout + 5)
        return self.counts

    def failures(self) -> int:
        return sum(c[k] for c in self.counts.values() for k in OUTCOMES[1:])

    def answered(self, name: str | None = None) -> int:
        return sum(c["answered"] for n, c in self.counts.items() if name in (None, n))

    def _client(self, index: int) -> None:
        rng = random.Random(index)
        names = sorted(self.ports)
        n = 0
        while not self._stop.is_set():
            name = rng.choice(names)
            outcome = self._one(self.ports[name], f"c{index}-{n}")
            n += 1
            with self._lock:
                self.counts[name][outcome] += 1
                if outcome != "answered" and len(self.errors) < 20:
                    self.errors.append(f"{name}: {outcome}")

    def _one(self, port: int, tag: str) -> str:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=self.timeout) as s:
                s.sendall(f"{tag}\n".encode())
                with s.makefile("rb") as f:
                    data = f.readline()
        except ConnectionRefusedError:
            return "refused"
        except ConnectionResetError:
            return "reset"
        except socket.timeout:
            return "timeout"
        except OSError as e:
            return "reset" if e.errno in (errno.EPIPE, errno.ECONNABORTED) else "refused"
        return "answered" if tag.encode() in data else "unanswered"


def jobs(ports: dict[str, int], python: str = sys.executable) -> dict[str, dict]:
    """The three jobs' plists, by label."""
    def sock(port: int) -> dict:
        return {"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": str(port)}}
    server = [python, str(LINE_SERVER), "--mode", "fromfd"]
    return {
        "listen": {"Label": "listen", "ProgramArguments": server, "KeepAlive": True, "Sockets": sock(ports["listen"])},
        "inetd": {"Label": "inetd", "ProgramArguments": ["/bin/sh", "-c", 'read l; echo "inetd $l"'],
                  "inetdCompatibility": {"Wait": False}, "Sockets": sock(ports["inetd"])},
        "ondemand": {"Label": "ondemand", "ProgramArguments": server + ["--exit-after", "200"],
                     "ThrottleInterval": 1, "Sockets": sock(ports["ondemand"])},
    }


def write_jobs(jobs_dir: Path, plists: dict[str, dict]) -> None:
    for label, data in plists.items():
        path = jobs_dir / f"{label}.plist"
        path.write_bytes(plistlib.dumps(data))
        path.chmod(0o644)


def ctl(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(pylaunchctl_argv(*args), env=env, capture_output=True, text=True, timeout=timeout)


def measure_pylaunchd(args, root: Path) -> dict:
    ports = {name: free_port() for name in ("listen", "inetd", "ondemand")}
    jobs_dir = root / "jobs"
    jobs_dir.mkdir()
    write_jobs(jobs_dir, jobs(ports))
    control = root / "ctl.sock"
    env = repo_env(args.repo, PYLAUNCHD_CONTROL_SOCKET=str(control))
    with open(root / "manager.log", "wb") as log:
        proc = subprocess.Popen(pylaunchd_argv(jobs_dir, control, root / "state"), env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: ctl(env, "print", "listen", "--json").returncode == 0, 30, "pylaunchd to start")
        before = {label: _print(env, label) for label in ports}
        load = Load(ports, args.clients).start()
        pauses, gaps = [], []
        for _ in range(args.reexecs):
            time.sleep(args.between)
            cp = ctl(env, "reexec", "--json")
            if cp.returncode != 0:
                raise BenchError(f"pylaunchctl reexec failed: {cp.stderr.strip()}")
            out = json.loads(cp.stdout)
            pauses.append(float(out["pause"]))
            gaps.append(out["gap"])
        time.sleep(args.between)
        load.stop()
        after = {label: _print(env, label) for label in ports}
        pid_after = int(json.loads(ctl(env, "version", "--json").stdout)["pid"])
    finally:
        terminate(proc)
    return {"pid_kept": pid_after == proc.pid, "pauses": distribution(pauses), "gaps": distribution(gaps),
            "load": load.counts,
            "failures": load.failures(), "errors": load.errors, "before": before, "after": after,
            "kept_alive_pid_kept": before["listen"]["pid"] == after["listen"]["pid"],
            "kept_alive_runs_kept": before["listen"]["runs"] == after["listen"]["runs"],
            "inetd_accepted_delta": after["inetd"]["sockets"][0]["accepted"] - before["inetd"]["sockets"][0]["accepted"],
            "inetd_answered": load.answered("inetd")}


def _print(env: dict, label: str) -> dict:
    cp = ctl(env, "print", label, "--json")
    if cp.returncode != 0:
        raise BenchError(f"print {label}: {cp.stderr.strip()}")
    return json.loads(cp.stdout)


SELF_BINDING = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(128)
while True:
    c, _ = s.accept()
    with c:
        data = b""
        while not data.endswith(b"\\n"):
            chunk = c.recv(4096)
            if not chunk: break
            data += chunk
        c.sendall(b"peer " + data)
"""


def measure_supervisord(args, root: Path) -> dict | None:
    here = os.path.dirname(sys.executable)  # a venv's scripts need not be on PATH
    supervisord = shutil.which("supervisord") or shutil.which("supervisord", path=here)
    if supervisord is None:
        return None
    port = free_port()
    (root / "server.py").write_text(SELF_BINDING)
    conf = root / "supervisord.conf"
    conf.write_text(f"[unix_http_server]\nfile={root}/sv.sock\n[supervisord]\nlogfile={root}/sv.log\n"
                    f"pidfile={root}/sv.pid\nnodaemon=true\n[rpcinterface:supervisor]\n"
                    f"supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
                    f"[supervisorctl]\nserverurl=unix://{root}/sv.sock\n"
                    f"[program:server]\ncommand={sys.executable} {root}/server.py {port}\nstartsecs=0\n")
    proc = subprocess.Popen([supervisord, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sctl = [shutil.which("supervisorctl") or shutil.which("supervisorctl", path=here) or "supervisorctl",
            "-c", str(conf)]
    try:
        def running() -> bool:
            cp = subprocess.run(sctl + ["status", "server"], capture_output=True, text=True, timeout=30)
            return "RUNNING" in cp.stdout
        wait_for(running, 30, "supervisord's server to run")
        load = Load({"server": port}, args.clients, timeout=5).start()
        pauses = []
        for _ in range(args.peer_reloads):
            time.sleep(args.between)
            t0 = time.monotonic()
            subprocess.run(sctl + ["reload"], capture_output=True, timeout=60)
            time.sleep(0.05)
            wait_for(running, 60, "supervisord to run the server again", interval=0.01)
            pauses.append(time.monotonic() - t0)
        time.sleep(args.between)
        load.stop()
    finally:
        terminate(proc)
    return {"pauses": distribution(pauses), "load": load.counts, "failures": load.failures()}


def run(args) -> dict:
    args.repo = use_repo(args.repo)
    root = Path(tempfile.mkdtemp(prefix="plrx-", dir="/tmp"))
    try:
        (root / "pl").mkdir()
        report = {"machine": machine(), "reexecs": args.reexecs, "clients": args.clients,
                  "peer_reloads": args.peer_reloads, "pylaunchd": measure_pylaunchd(args, root / "pl")}
        if args.peer_reloads:
            (root / "sv").mkdir()
            report["supervisord"] = measure_supervisord(args, root / "sv")
        return report
    finally:
        shutil.rmtree(root, ignore_errors=True)


def render(r: dict) -> str:
    p = r["pylaunchd"]
    lines = [f"pylaunchd: {r['reexecs']} re-execs under {r['clients']} clients",
             f"  pause (request -> control socket answers): p50 {p['pauses'].get('p50_ms', 0):.0f} ms, "
             f"max {p['pauses'].get('max_ms', 0):.0f} ms",
             f"  gap (exec -> new process took over; clients wait in the queue): p50 "
             f"{p['gaps'].get('p50_ms', 0):.0f} ms, max {p['gaps'].get('max_ms', 0):.0f} ms",
             "  connections: " + ", ".join(f"{k}: " + " ".join(f"{o}={n}" for o, n in c.items() if n)
                                          for k, c in p["load"].items()),
             f"  failures: {p['failures']}; manager PID kept: {p['pid_kept']}; kept-alive PID kept: "
             f"{p['kept_alive_pid_kept']}; inetd accepted +{p['inetd_accepted_delta']} for "
             f"{p['inetd_answered']} answered"]
    s = r.get("supervisord")
    if s:
        lines += [f"supervisord (peer): {r['peer_reloads']} reloads (supervisorctl reload) under the same clients",
                  f"  pause (reload -> program running): p50 {s['pauses'].get('p50_ms', 0):.0f} ms, "
                  f"max {s['pauses'].get('max_ms', 0):.0f} ms",
                  "  connections: " + " ".join(f"{o}={n}" for o, n in s["load"]["server"].items() if n),
                  f"  failures: {s['failures']}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reexecs", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--between", type=float, default=0.3, help="seconds of load between re-execs")
    parser.add_argument("--peer-reloads", type=int, default=5, help="supervisord reloads (0: no peer)")
    parser.add_argument("--json", action="store_true")
    add_repo_option(parser)
    args = parser.parse_args()
    report = run_and_report(run, args, render, "re-exec")
    sys.exit(0 if report is not None and report["pylaunchd"]["failures"] == 0 else 1)


if __name__ == "__main__":
    main()

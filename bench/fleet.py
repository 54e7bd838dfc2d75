"""Many on-demand services under one manager: pylaunchd and xinetd side by side.

Shared by bench/scale.py, bench/reload.py and bench/startup.py. A service is
one listening socket and ``/bin/cat`` run per connection on fds 0-2:

* pylaunchd: one plist per service, ``inetdCompatibility`` ``Wait`` false,
  ``ThrottleInterval`` 0, the socket on 127.0.0.1:PORT (or a unix socket
  path);
* xinetd: one ``UNLISTED`` stream service per port in one private
  configuration file, ``wait = no``, ``bind = 127.0.0.1``, ``cps = 0 0``, run
  with ``-dontfork``. xinetd has no unix sockets: it gets TCP ports only.

Whether a socket listens is read from /proc/net/tcp and /proc/net/unix, so
that checking makes no connection (which would start a process).
"""

from __future__ import annotations

import os
import plistlib
import pwd
import resource
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from benchlib import (HOST, BenchError, Peer, imported_from, pylaunchctl_argv, pylaunchd_argv, python, repo_env,
                      terminate, timed_sigterm)

CAT = shutil.which("cat") or "/bin/cat"
XINETD = shutil.which("xinetd") or "/usr/sbin/xinetd"


def xinetd_version() -> str:
    try:
        cp = subprocess.run([XINETD, "-version"], capture_output=True, text=True, timeout=10)
        out = (cp.stdout + cp.stderr).strip().splitlines()  # e.g. "2.3.15.3 libwrap loadavg"
        return f"xinetd {out[0]}" if out else "xinetd"
    except (OSError, subprocess.TimeoutExpired):
        return "xinetd"


def raise_nofile() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (the managers inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


@dataclass(frozen=True)
class Service:
    name: str
    port: int = 0  # TCP on HOST when set
    path: str = ""  # else a unix socket


def alloc_ports(n: int) -> list[int]:
    """*n* distinct free TCP ports on HOST (all bound at once, then released)."""
    held = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            held.append(s)
            s.bind((HOST, 0))
        return [s.getsockname()[1] for s in held]
    finally:
        for s in held:
            s.close()


def make_services(n: int, sock_dir: Path, unix: int = 0, prefix: str = "svc") -> list[Service]:
    """*n* services: *unix* of them, spread evenly, on unix sockets in *sock_dir*, the others
    on free ports (spread, so that a manager that loads only part still has some)."""
    unix = min(unix, n)
    on_unix = {n - 1 - (k * n) // unix for k in range(unix)} if unix else set()
    ports = iter(alloc_ports(n - len(on_unix)))
    return [Service(f"{prefix}{i:05d}", path=str(sock_dir / f"{prefix}{i:05d}.sock")) if i in on_unix
            else Service(f"{prefix}{i:05d}", port=next(ports)) for i in range(n)]


def listening_ports() -> set[int]:
    """TCP ports in LISTEN on 127.0.0.1 or the wildcard."""
    ports = set()
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split(None, 4)
            addr, p = fields[1].split(":")
            if fields[3] == "0A" and addr in ("0100007F", "00000000"):
                ports.add(int(p, 16))
    return ports


def listening_paths() -> set[str]:
    """Paths of listening unix sockets (flag __SO_ACCEPTCON)."""
    paths = set()
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            fields = line.split()
            if len(fields) >= 8 and fields[3] == "00010000":
                paths.add(fields[7])
    return paths


def port_listens(port: int) -> bool:
    """Does something listen on 127.0.0.1:*port* (or the wildcard)? Asked of the
    kernel without a connection and without /proc/net/tcp, which lists every
    socket of the machine (other work on it too: 80 ms a read here at times):
    a bind with SO_REUSEADDR fails only while a socket listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((HOST, port))
            return False
        except OSError:
            return True


def not_listening(services: list[Service]) -> list[Service]:
    """Those of *services* whose socket does not listen yet. TCP ports are
    asked one by one (:func:`port_listens`), in order, up to the first that
    does not listen: a manager binds them in about that order, so a round
    costs one bind per new socket plus one. Unix paths, once every port
    listens, from /proc/net/unix."""
    pending = []
    ports = [s for s in services if s.port]
    for i, s in enumerate(ports):
        if not port_listens(s.port):
            pending = ports[i:]
            break
    unix = [s for s in services if not s.port]
    if unix and not pending:
        paths = listening_paths()
        pending = [s for s in unix if s.path not in paths]
    return pending + (unix if pending and pending[0].port else [])


def connect(service: Service, timeout: float = 2) -> bool:
    """Does *service*'s socket accept a connection (the kernel completes it)?"""
    family = socket.AF_INET if service.port else socket.AF_UNIX
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((HOST, service.port) if service.port else service.path)
            return True
        except OSError:
            return False


def sample(services: list[Service], k: int = 20) -> list[Service]:
    """About *k* services spread over the list, always with the last one."""
    step = max(1, len(services) // k)
    return sorted(set(services[::step]) | {services[-1]}, key=services.index)


class Fleet(Peer):
    """A manager of many services: start() returns the time of the exec."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.log = root / f"{self.name}.log"

    def popen(self, argv, env=None) -> float:
        with open(self.log, "ab") as log:
            self.t_exec = time.monotonic()
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env)
        return self.t_exec

    def wait_listening(self, services: list[Service], timeout: float, interval: float = 0.005) -> float:
        """Poll until every socket of *services* listens; the monotonic time it was seen."""
        pending = list(services)
        deadline = time.monotonic() + timeout
        while True:
            pending = not_listening(pending)
            now = time.monotonic()
            if not pending:
                return now
            if self.proc.poll() is not None:
                raise BenchError(f"{self.name} exited with {self.proc.returncode} before "
                                 f"{len(pending)} sockets listened")
            if now > deadline:
                raise TimeoutError(f"{len(pending)} of {len(services)} sockets not listening after {timeout:g} s")
            time.sleep(interval)

    def sigterm(self, timeout: float) -> dict:
        result = timed_sigterm(self.proc, timeout)
        terminate(self.proc)  # children left, if any
        return result


class PylaunchdFleet(Fleet):
    name = "pylaunchd"

    def __init__(self, root: Path, repo: Path, log_level: str = "info", front_end: bool = True) -> None:
        super().__init__(root)
        self.repo = repo
        self.front_end = front_end  # the installed command (C front end); False: pylaunchd-python alone
        self.jobs_dir = root / "pylaunchd-jobs"
        self.jobs_dir.mkdir(exist_ok=True)
        self.control = root / "pylaunchd.sock"
        self.log_level = log_level
        self.env = repo_env(repo, PYLAUNCHD_CONTROL_SOCKET=str(self.control))

    @staticmethod
    def plist(service: Service) -> bytes:
        listener = ({"SockNodeName": HOST, "SockServiceName": str(service.port), "SockFamily": "IPv4"}
                    if service.port else {"SockPathName": service.path})
        return plistlib.dumps({"Label": f"bench.{service.name}", "ProgramArguments": [CAT],
                               "Sockets": {"Listeners": listener}, "inetdCompatibility": {"Wait": False},
                               "ThrottleInterval": 0})

    def plist_path(self, service: Service) -> Path:
        return self.jobs_dir / f"bench.{service.name}.plist"

    def write_jobs(self, services: list[Service]) -> None:
        for s in services:
            self.plist_path(s).write_bytes(self.plist(s))

    def start(self) -> float:
        return self.popen(pylaunchd_argv(self.jobs_dir, self.control, self.root / "pylaunchd-state",
                                         self.log_level, self.repo if self.front_end else None), self.env)

    def warm_boot_cache(self, timeout: float = 120) -> None:
        """Run the manager once on these jobs until it has written its boot
        cache, then stop it: its next start, on the same unchanged plists, is
        a warm one (an unchanged plist costs a stat and its binds)."""
        cache = self.root / "pylaunchd-state" / "boot-cache.marshal"
        self.start()
        self.wait_ready(self.log, "the boot cache to be written", cache.exists, timeout, 0.01)
        self.sigterm(timeout)

    def ctl(self, *args: str, timeout: float = 60) -> str:
        cp = subprocess.run(pylaunchctl_argv(*args), env=self.env, capture_output=True, text=True,
                            timeout=timeout)
        if cp.returncode:
            raise BenchError(f"pylaunchctl {' '.join(args)}: exit {cp.returncode}: {cp.stderr.strip()}")
        return cp.stdout

    def listed(self) -> int:
        """How many jobs `pylaunchctl list` shows."""
        return len(self.ctl("list").splitlines()) - 1

    def log_count(self, text: str) -> int:
        with open(self.log, errors="replace") as f:
            return sum(text in line for line in f)

    def version(self) -> str:
        return f"pylaunchd from {imported_from(self.repo)}"


class XinetdFleet(Fleet):
    name = "xinetd"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        if not os.access(XINETD, os.X_OK):
            raise BenchError(f"{XINETD} not found: install the Debian package xinetd")
        self.conf = root / "xinetd.conf"
        self.pidfile = root / "xinetd.pid"
        self.user = pwd.getpwuid(os.getuid()).pw_name

    def block(self, service: Service) -> str:
        return f"""
service {service.name}
{{
    type = UNLISTED
    id = {service.name}
    socket_type = stream
    protocol = tcp
    port = {service.port}
    bind = {HOST}
    wait = no
    user = {self.user}
    server = {CAT}
    instances = UNLIMITED
    per_source = UNLIMITED
    cps = 0 0
    log_on_success =
}}
"""

    def write_jobs(self, services: list[Service]) -> None:
        """The configuration, written atomically (xinetd reads it at start and on SIGHUP)."""
        tmp = self.conf.with_suffix(".tmp")
        tmp.write_text("# Private configuration written by bench/fleet.py.\ndefaults\n{\n}\n"
                       + "".join(self.block(s) for s in services if s.port))
        os.replace(tmp, self.conf)

    def start(self) -> float:
        return self.popen([XINETD, "-dontfork", "-f", str(self.conf), "-pidfile", str(self.pidfile),
                           "-filelog", str(self.log)])

    def hup(self) -> None:
        os.kill(self.proc.pid, 1)

    def version(self) -> str:
        return xinetd_version()


class CircusFleet(Fleet):
    """circus: it binds every ``[socket:]`` before it starts watchers, but it has no
    on-demand start: each service is a socket and a watcher that is not started
    (``autostart = false``), so the socket is held and nothing answers it."""

    name = "circus"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        import importlib.util
        if importlib.util.find_spec("circus") is None:
            raise BenchError("circus not installed: pip install -e '.[bench]'")
        self.circusd = [python(), "-m", "circus.circusd"]  # the interpreter pylaunchd runs with
        self.conf = root / "circus.ini"

    def write_jobs(self, services: list[Service]) -> None:
        parts = [f"[circus]\nendpoint = ipc://{self.root}/circus-ctl.sock\n"
                 f"pubsub_endpoint = ipc://{self.root}/circus-pub.sock\nstatsd = false\ncheck_delay = 1\n"]
        for s in services:
            if s.port:
                parts.append(f"[socket:{s.name}]\nhost = {HOST}\nport = {s.port}\n\n"
                             f"[watcher:{s.name}]\ncmd = {CAT}\nuse_sockets = true\nautostart = false\n")
        self.conf.write_text("\n".join(parts))

    def start(self) -> float:
        return self.popen([*self.circusd, str(self.conf)])

    def version(self) -> str:
        cp = subprocess.run([*self.circusd, "--version"], capture_output=True, text=True, timeout=30)
        return f"circus {cp.stdout.strip()}"

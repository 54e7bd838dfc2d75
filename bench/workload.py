"""Jobs of every kind, their clients, and what the manager holds: shared by
bench/leaks.py and bench/soak.py (and tests/test_leaks.py through leaks.py).

Every job runs bench/oneshot.c (compiled here with ``cc``), which serves one
request and exits, so that each request is one activation of the manager:

``listen_fds``    TCP, launchd's on-demand job: the socket on fd 3 with
                  ``LISTEN_FDS``; it accepts one connection and exits;
``inetd_nowait``  TCP, ``inetdCompatibility`` ``Wait`` false: the manager
                  accepts, one instance per connection on fds 0-1;
``inetd_wait``    TCP, ``Wait`` true: the listening socket on fd 0;
``udp``           a datagram socket on fd 3 (``LISTEN_FDS``), one datagram
                  answered.

``crash=True`` makes the job die (SIGSEGV, SIGKILL or exit 1) right after its
answer: a crash never loses what it accepted, so a refused or unanswered
request is the manager's loss.

What the manager holds is read from /proc: its open descriptors (by kind),
threads, its children and which of them are zombies, and its resident size
(VmRSS, and RssAnon, its anonymous part).
"""

from __future__ import annotations

import os
import plistlib
import shutil
import socket
import subprocess
import time
from pathlib import Path

from benchlib import HOST, BenchError, Peer, pylaunchd_argv, repo_env, wait_for

KINDS = ("listen_fds", "inetd_nowait", "inetd_wait", "udp")
SOURCE = Path(__file__).resolve().parent / "oneshot.c"


class Lost(Exception):
    """A request refused, reset, unanswered or answered wrongly."""


def build_job(dest_dir: Path) -> str:
    """bench/oneshot.c compiled into *dest_dir*; its path."""
    cc = shutil.which("cc")
    if cc is None:
        raise BenchError("needs a C compiler (cc) for bench/oneshot.c")
    out = Path(dest_dir) / "oneshot"
    subprocess.run([cc, "-O2", "-o", str(out), str(SOURCE)], check=True)
    return str(out)


def job_plist(kind: str, label: str, program: str, crash: bool = False, generation: int = 0,
              keep_alive: bool = False) -> dict:
    """The plist of a *kind* job. *generation* goes into its environment (a reload
    changes it); an odd generation also moves its socket to 127.0.0.2, so that
    a reload replaces the socket too."""
    tail = ["crash"] if crash else []
    argv = {"listen_fds": [program, "accept", "3", *tail], "inetd_nowait": [program, "echo", "-", *tail],
            "inetd_wait": [program, "accept", "0", *tail], "udp": [program, "dgram", "3", *tail]}[kind]
    listener = {"SockNodeName": "127.0.0.2" if generation % 2 else HOST, "SockServiceName": "0",
                "SockFamily": "IPv4"}
    if kind == "udp":
        listener["SockType"] = "dgram"
    data = {"Label": label, "ProgramArguments": argv, "ThrottleInterval": 0,
            "EnvironmentVariables": {"GENERATION": str(generation)}, "Sockets": {"Listeners": listener}}
    if kind.startswith("inetd"):
        data["inetdCompatibility"] = {"Wait": kind == "inetd_wait"}
    if keep_alive:
        data["KeepAlive"] = True
    return data


def address(info: dict) -> tuple[str, int]:
    a = info["sockets"][0]["address"]
    return a["host"], a["port"]


def ask(kind: str, addr: tuple[str, int], msg: str, timeout: float = 10) -> None:
    """One request to a *kind* job at *addr*; raises Lost unless it is answered right."""
    try:
        if kind == "udp":
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(timeout)
                s.sendto(f"{msg}\n".encode(), addr)
                reply = s.recv(1024)
        else:
            with socket.create_connection(addr, timeout=timeout) as s:
                s.sendall(f"{msg}\n".encode())
                s.shutdown(socket.SHUT_WR)
                chunks = []
                while chunk := s.recv(1024):
                    chunks.append(chunk)
                reply = b"".join(chunks)
    except OSError as e:
        raise Lost(f"{kind} {addr}: {msg}: {e!r}") from None
    if not reply.startswith(f"ok {msg} pid=".encode()):
        raise Lost(f"{kind} {addr}: {msg}: answered {reply[:80]!r}")


# ---------------------------------------------------------------------------
# what a process holds


def children_of(pid: int) -> list[int]:
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def _fd_kind(target: str) -> str:
    if target.startswith(("socket:", "pipe:")):
        return target.split(":", 1)[0]
    if target.startswith("anon_inode:"):
        return target.split(":", 1)[1].strip("[]")
    return "file"


def snapshot(pid: int) -> dict:
    """What *pid* holds now: fds (and by kind), threads, children, zombies, and in KiB
    VmRSS and its anonymous part, RssAnon (the heap: what a leak grows; the rest
    is file pages, which come and go with the page cache)."""
    kinds: dict[str, int] = {}
    fd_dir = f"/proc/{pid}/fd"
    for fd in os.listdir(fd_dir):
        try:
            kind = _fd_kind(os.readlink(f"{fd_dir}/{fd}"))
        except OSError:
            continue  # closed meanwhile
        kinds[kind] = kinds.get(kind, 0) + 1
    mem = {"VmRSS:": 0, "RssAnon:": 0}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(None, 1)[0]
            if key in mem:
                mem[key] = int(line.split()[1])
    children = children_of(pid)
    return {"fds": sum(kinds.values()), "fd_kinds": dict(sorted(kinds.items())),
            "threads": len(os.listdir(f"/proc/{pid}/task")), "children": len(children),
            "zombies": sum(1 for c in children if _state(c) == "Z"), "rss_kib": mem["VmRSS:"],
            "anon_kib": mem["RssAnon:"]}


# ---------------------------------------------------------------------------
# the manager under test


class Manager(Peer):
    """pylaunchd on a private jobs directory, control socket and state directory."""

    name = "pylaunchd"

    def __init__(self, root: Path, repo: Path) -> None:
        super().__init__()
        self.root, self.repo = Path(root), Path(repo)
        self.jobs_dir = self.root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.state_dir = self.root / "state"
        self.control = str(self.root / "ctl.sock")
        self.log = self.root / "manager.log"

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(pylaunchd_argv(self.jobs_dir, self.control, self.state_dir),
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=repo_env(self.repo))
        self.wait_ready(self.log, "pylaunchd to answer", lambda: self.call("manager") is not None, 30, 0.02)

    def call(self, verb: str, args: dict | None = None):
        from pylaunchd.control.protocol import ControlError, request

        try:
            return request(self.control, verb, args, timeout=30)
        except ControlError as e:
            if e.status in (112, 113):  # not up yet / not loaded
                return None
            raise

    def info(self, label: str) -> dict | None:
        return self.call("print", {"label": label})

    def write(self, label: str, data: dict) -> Path:
        """Save *label*'s plist as an editor does (a temporary file, renamed)."""
        path = self.jobs_dir / f"{label}.plist"
        tmp = self.jobs_dir / f".{label}.plist.tmp"
        tmp.write_bytes(plistlib.dumps(data))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        return path

    def remove(self, label: str) -> None:
        (self.jobs_dir / f"{label}.plist").unlink()

    def wait_info(self, label: str, pred, timeout: float = 30, what: str = "") -> dict:
        def check():
            info = self.info(label)
            return info if info is not None and pred(info) else None
        return self.wait_ready(self.log, f"{label}: {what}", check, timeout, 0.01)

    def wait_quiet(self, labels, timeout: float = 60) -> None:
        """Until no child of the manager is left (none running, none a zombie) and every
        job of *labels* is waiting on its sockets again."""
        def quiet():
            if children_of(self.pid):
                return False
            return all((i := self.info(label)) is not None and i["pid"] is None and not i["instances"]
                       and i["state"] == "waiting" for label in labels)
        self.wait_ready(self.log, "every job to be idle and every child reaped", quiet, timeout, 0.02)


def settle(pid: int, seconds: float = 0.5) -> dict:
    """A snapshot once the manager's fd count has held still for *seconds* (a
    connection being closed, a log being rotated)."""
    last = snapshot(pid)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(seconds)
        now = snapshot(pid)
        if now["fds"] == last["fds"] and now["threads"] == last["threads"]:
            return now
        last = now
    return last


__all__ = ["KINDS", "Lost", "Manager", "address", "ask", "build_job", "job_plist", "settle", "snapshot",
           "wait_for"]

"""Fixtures that run pylaunchd as a user does: a real subprocess on a private
jobs directory and control socket, driven with pylaunchctl and real clients.

Every process a test starts is stopped by PID at teardown, and every
temporary directory (with its socket files) is removed.
"""

from __future__ import annotations

import json
import os
import plistlib
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from pylaunchd.control.protocol import ControlError, request

HERE = Path(__file__).resolve().parent
JOBS = HERE / "jobs"
PYTHON = sys.executable
# PYLAUNCHD_TEST_FRONT_END=PATH: every ManagerProcess that would run python -m pylaunchd
# runs PATH instead, an installed pylaunchd command (the C front end, with the
# pylaunchd-python of this tree beside it), so that the suite can be run through it.
FRONT_END_ENV = "PYLAUNCHD_TEST_FRONT_END"


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll *predicate* until it returns a truthy value; fail after *timeout*."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_exc})" if last_exc else ""))


def free_port(family=socket.AF_INET, host="127.0.0.1") -> int:
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a fixed port (an example job's) can be bound here now."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """The PIDs of a process's children (zombies too), from /proc."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def plist(label: str, **keys) -> dict:
    d = {"Label": label}
    d.update(keys)
    return d


class ManagerProcess:
    """A running pylaunchd subprocess and the means to drive it."""

    def __init__(self, root: Path, extra_args=(), prefix=()):
        self.root = root
        self.jobs_dir = root / "jobs"
        self.jobs_dir.mkdir(exist_ok=True)
        self.state_dir = root / "state"
        self.socket = str(root / "ctl.sock")
        self.log_path = root / "manager.log"
        self.extra_args = list(extra_args)
        self.prefix = list(prefix)  # e.g. ["ip", "netns", "exec", NS]
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.entry = ["-m", "pylaunchd"]  # what python runs (a wrapper script, say)
        self.command: list[str] | None = None  # instead of python and entry (the C front end, say)
        self.cwd: str | None = None
        self.env: dict | None = None

    # -- process --------------------------------------------------------------
    def start(self, wait: bool = True) -> "ManagerProcess":
        self._log = open(self.log_path, "ab")
        command = self.command or [PYTHON, *self.entry]
        if self.command is None and self.entry == ["-m", "pylaunchd"] and os.environ.get(FRONT_END_ENV):
            command = [os.environ[FRONT_END_ENV]]  # the whole suite through the installed command
        cmd = [*self.prefix, *command, "--jobs-dir", str(self.jobs_dir),
               "--control-socket", self.socket, "--state-dir", str(self.state_dir),
               "--log-level", "debug", *self.extra_args]
        self.proc = subprocess.Popen(cmd, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=self.cwd, env=self.env)
        if wait:
            self.wait(self.ready, 15, f"pylaunchd to listen on {self.socket}")
        return self

    def ready(self) -> bool:
        if self.proc and self.proc.poll() is not None:
            raise AssertionError(f"pylaunchd exited with {self.proc.returncode}:\n{self.log()}")
        try:
            request(self.socket, "manager", timeout=2)
            return True
        except ControlError:
            return False

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self._log:
            self._log.close()
        return code

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- jobs -----------------------------------------------------------------
    def write(self, name: str, data: dict, fmt=plistlib.FMT_XML, directory: Path | None = None) -> Path:
        """Write a plist atomically (temp file + rename), as an editor does."""
        directory = directory or self.jobs_dir
        path = directory / name
        tmp = directory / f".{name}.tmp"
        tmp.write_bytes(plistlib.dumps(data, fmt=fmt))
        os.chmod(tmp, 0o644)  # whatever the umask: group-writable plists are refused
        os.replace(tmp, path)
        return path

    def ctl(self, *args, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run pylaunchctl against this manager."""
        env = dict(os.environ, PYLAUNCHD_CONTROL_SOCKET=self.socket)
        cp = subprocess.run([PYTHON, "-m", "pylaunchd.cli.launchctl", *args], env=env,
                            capture_output=True, text=True, timeout=timeout)
        if check and cp.returncode != 0:
            raise AssertionError(f"pylaunchctl {' '.join(args)} exited {cp.returncode}:\n"
                                 f"{cp.stdout}{cp.stderr}\n--- manager log ---\n{self.log()[-4000:]}")
        return cp

    def info(self, label: str) -> dict | None:
        """The job's `print --json` object, through the control protocol (None if not loaded)."""
        try:
            return request(self.socket, "print", {"label": label}, timeout=10)
        except ControlError as e:
            if e.status == 113:
                return None
            raise

    def jobs(self) -> list[dict]:
        return request(self.socket, "list", timeout=10)

    def wait(self, predicate, timeout: float, what: str):
        """wait_for, with the manager's log in the failure message."""
        try:
            return wait_for(predicate, timeout, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- manager log (end) ---\n{self.log()[-5000:]}") from None

    def wait_loaded(self, label: str, timeout: float = 10) -> dict:
        return self.wait(lambda: self.info(label), timeout, f"{label} to load")

    def wait_unloaded(self, label: str, timeout: float = 10) -> None:
        self.wait(lambda: self.info(label) is None, timeout, f"{label} to unload")

    def wait_state(self, label: str, pred, timeout: float = 15, what: str = "state") -> dict:
        def check():
            info = self.info(label)
            return info if info is not None and pred(info) else None
        return self.wait(check, timeout, f"{label}: {what}")

    def port(self, label: str, name: str | None = None, index: int = 0) -> int:
        socks = [s for s in self.info(label)["sockets"] if name is None or s["name"] == name]
        return socks[index]["address"]["port"]


@pytest.fixture
def workdir():
    # Short paths: unix socket paths are limited to 107 bytes.
    d = Path(tempfile.mkdtemp(prefix="pl-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def manager_factory(workdir):
    made: list[ManagerProcess] = []

    def make(start=True, sub="", extra_args=(), prefix=()) -> ManagerProcess:
        root = workdir / sub if sub else workdir
        root.mkdir(exist_ok=True)
        m = ManagerProcess(root, extra_args, prefix)
        made.append(m)
        if start:
            m.start()
        return m

    yield make
    for m in made:
        m.stop()
        # Jobs are stopped by the manager; anything a job left behind is
        # found by the PID files the test jobs write, and stopped by PID.
        for pidfile in m.root.glob("**/*.pid"):
            try:
                pid = int(pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def manager(manager_factory) -> ManagerProcess:
    return manager_factory()


@pytest.fixture(scope="session")
def churn_server(tmp_path_factory) -> str:
    """tests/jobs/churn_server.c, compiled: a LISTEN_FDS server whose own
    start-up costs nothing, so tests of restarts are quick."""
    if shutil.which("cc") is None:
        pytest.skip("needs a C compiler for the churn server")
    out = tmp_path_factory.mktemp("bin") / "churn_server"
    subprocess.run(["cc", "-O2", "-o", str(out), str(JOBS / "churn_server.c")], check=True)
    return str(out)


@pytest.fixture
def netns():
    """A network namespace of our own (root and iproute2 needed): its
    loopback is up, with multicast routed to it. Yields the name."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("needs root and iproute2 to make a network namespace")
    name = f"pl{os.getpid()}x{int(time.monotonic() * 1000) % 100000}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("cannot create a network namespace here")
    try:
        for cmd in (["ip", "link", "set", "lo", "up"], ["ip", "link", "set", "lo", "multicast", "on"],
                    ["ip", "route", "add", "224.0.0.0/4", "dev", "lo"]):
            subprocess.run(["ip", "netns", "exec", name, *cmd], check=True, capture_output=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


def run_bench_scripts(runs: dict, timeout: float) -> dict:
    """The scripts of bench/ in *runs* (name -> [script, args...]), started together,
    each with --json; name -> (exit status, report or None, stderr). One still
    running at the end gets SIGTERM (it stops what it started), then SIGKILL."""
    bench = HERE.parent / "bench"
    procs = {name: subprocess.Popen([PYTHON, str(bench / argv[0]), *argv[1:], "--json"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for name, argv in runs.items()}
    out = {}
    try:
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=timeout)
            try:
                out[name] = (proc.returncode, json.loads(stdout), stderr)
            except ValueError:
                out[name] = (proc.returncode, None, stderr)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    return out


@pytest.fixture
def test_user():
    """A user created for the test by root, removed afterwards."""
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("needs root and useradd to create a test user")
    name = f"pltest{os.getpid() % 100000}"
    cp = subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                        capture_output=True, text=True)
    if cp.returncode != 0:
        pytest.skip(f"cannot create a user: {cp.stderr.strip()}")
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def job_script(name: str) -> str:
    return str(JOBS / name)


def _talk(sock: socket.socket, data: bytes) -> bytes:
    """Send *data*, close our side, read until the peer closes."""
    sock.sendall(data)
    sock.shutdown(socket.SHUT_WR)
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def connect_and_talk(port: int, data: bytes = b"ping\n", host="127.0.0.1", timeout: float = 10.0) -> bytes:
    with socket.create_connection((host, port), timeout=timeout) as s:
        return _talk(s, data)


def unix_talk(path: str, data: bytes = b"ping\n", timeout: float = 10.0) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        return _talk(s, data)


def hammer(port: int, clients: int, per_client: int) -> tuple[int, list]:
    """*clients* threads each make *per_client* connections to a line server
    (tests/jobs/churn_server.c's protocol); returns (answered, errors)."""
    ok, errors = [], []

    def client(tag: str) -> None:
        for i in range(per_client):
            msg = f"{tag}-{i}"
            try:
                reply = connect_and_talk(port, f"{msg}\n".encode(), timeout=60)
            except OSError as e:
                errors.append((msg, repr(e)))
                continue
            if not reply.startswith(f"data={msg} pid=".encode()):
                errors.append((msg, reply))
            else:
                ok.append(1)

    threads = [threading.Thread(target=client, args=(f"c{t}",)) for t in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return len(ok), errors


def as_user(uid: int, gid: int, fn):
    """Run fn() in a child process with another uid; return what it returns (as text)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            try:
                msg = fn()
            except Exception as e:  # noqa: BLE001
                msg = f"{getattr(e, 'status', '?')} {e}"
            os.write(w, str(msg).encode())
        finally:
            os._exit(0)
    os.close(w)
    with os.fdopen(r) as f:
        answer = f.read()
    os.waitpid(pid, 0)
    return answer


def has_ipv6() -> bool:
    """Can a socket bind ::1 here?"""
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def account_locked(user: str) -> bool:
    """Whether *user*'s password field starts with '!' (sshd with UsePAM no refuses such an account)."""
    try:
        with open("/etc/shadow") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name == user:
                    return rest.startswith("!")
    except OSError:
        pass
    return False

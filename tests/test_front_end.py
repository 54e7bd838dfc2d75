"""The installed ``pylaunchd`` command: the C front end, then the Python manager.

The front end (pylaunchd/_prebind.c) binds the jobs' sockets and execs
``pylaunchd-python`` from its own directory; the manager takes those
sockets over (pylaunchd/prebound.py). What a user can rely on, tested here
end to end with a real manager:

* a client that connects before Python has even started is queued by the
  kernel and served by the job once the manager runs (TCP and unix);
* a socket the front end bound for a job the manager refuses (an invalid
  plist) is closed once the manager has read its plists;
* jobs see neither the front end's variables nor its descriptors;
* ``--version`` says which command started the manager.

To stop the manager between the front end's exec and Python's start, the
``pylaunchd-python`` here first waits for a line on a FIFO (the "held" bin
directory); the test connects its clients, then writes the line. The C
program's own rules (what it binds, what it leaves to Python) are
tests/test_prebind.py's.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PYTHON, free_port, plist, wait_for
from prebindlib import built_once, install_beside

REPO = Path(__file__).resolve().parent.parent

PLAIN = """#!{python}
import sys
sys.path.insert(0, {repo!r})
from pylaunchd.cli.pylaunchd import main
main()
"""
HELD = """#!{python}
import os, sys
with open(os.environ["TEST_FRONT_END_FIFO"]) as f:  # the test's clients connect meanwhile
    f.readline()
sys.path.insert(0, {repo!r})
from pylaunchd.cli.pylaunchd import main
main()
"""


@pytest.fixture(scope="module")
def front_ends(tmp_path_factory) -> dict[str, str]:
    """name -> the compiled front end, beside a pylaunchd-python: "plain" runs
    the manager at once, "held" after a line on $TEST_FRONT_END_FIFO."""
    root = tmp_path_factory.mktemp("front-end")
    built = built_once(tmp_path_factory)
    out = {}
    for name, text in (("plain", PLAIN), ("held", HELD)):
        out[name] = str(install_beside(built, root / name, text.format(python=PYTHON, repo=str(REPO))))
    return out


def echo_job(label: str, listener: dict) -> dict:
    return plist(label, ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False},
               Sockets={"Listeners": listener})


def release(fifo: Path, proc: subprocess.Popen) -> None:
    """Wait until the held pylaunchd-python reads the FIFO, then let it go."""
    def opened():
        assert proc.poll() is None, f"the front end exited with {proc.returncode}"
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as e:
            if e.errno == errno.ENXIO:  # no reader yet
                return None
            raise
    fd = wait_for(opened, 15, what="the held manager to open its FIFO")
    os.write(fd, b"go\n")
    os.close(fd)


def held_manager(manager_factory, front_ends, workdir: Path):
    m = manager_factory(start=False)
    fifo = workdir / "go.fifo"
    os.mkfifo(fifo)
    m.command = [front_ends["held"]]
    m.env = dict(os.environ, TEST_FRONT_END_FIFO=str(fifo))
    return m, fifo


def test_a_client_that_connects_before_python_starts_is_queued_and_served(manager_factory, front_ends, workdir):
    m, fifo = held_manager(manager_factory, front_ends, workdir)
    port = free_port()
    private = workdir / "s"
    private.mkdir(mode=0o700)
    path = str(private / "echo.sock")
    m.write("tcp.plist", echo_job("test.fe.tcp", {"SockNodeName": "127.0.0.1", "SockServiceName": str(port)}))
    m.write("unix.plist", echo_job("test.fe.unix", {"SockPathName": path}))
    m.start(wait=False)
    early = []
    # Connect while pylaunchd-python waits on its FIFO: only the C program has run.
    wait_for(lambda: os.path.exists(path), 15, what="the front end to bind the unix socket")
    tcp = socket.create_connection(("127.0.0.1", port), timeout=10)
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.settimeout(10)
    unix.connect(path)
    for s in (tcp, unix):
        s.sendall(b"early\n")
        s.shutdown(socket.SHUT_WR)
        early.append(s)
    assert stat.S_IMODE(os.lstat(path).st_mode) == 0o700  # the mode the manager would have given it
    release(fifo, m.proc)
    m.wait(m.ready, 15, "the manager to answer")
    for s in early:
        with s:
            assert s.recv(100) == b"early\n"
    assert "test.fe.tcp" in m.ctl("list").stdout
    assert "2 socket(s) bound by the front end before Python started, taken over; 0 of no job" in m.log()


def test_a_socket_of_a_job_the_manager_refuses_is_closed(manager_factory, front_ends, workdir):
    m, fifo = held_manager(manager_factory, front_ends, workdir)
    port = free_port()
    bad = echo_job("test.fe.bad", {"SockNodeName": "127.0.0.1", "SockServiceName": str(port)})
    bad["ThrottleInterval"] = "ten"  # the front end ignores the key; the manager refuses the plist
    private = workdir / "s"
    private.mkdir(mode=0o700)
    path = private / "bad.sock"
    bad["Sockets"]["Unix"] = {"SockPathName": str(path)}
    m.write("bad.plist", bad)
    m.start(wait=False)
    wait_for(lambda: _listens(port) and path.exists(), 15, what="the front end to bind the port and the path")
    early = socket.create_connection(("127.0.0.1", port), timeout=10)  # queued: the C program bound it
    release(fifo, m.proc)
    m.wait(m.ready, 15, "the manager to answer")
    with early, pytest.raises(ConnectionResetError):  # never accepted: reset as its listener closed
        early.recv(10)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    assert "ThrottleInterval" in m.ctl("errors", check=False).stdout + m.ctl("errors", check=False).stderr
    assert "0 socket(s) bound by the front end before Python started, taken over; 2 of no job loaded" in m.log()
    assert not path.exists()  # its socket file removed with it


def _listens(port: int) -> bool:
    """A socket listens on 127.0.0.1:*port* (/proc/net/tcp: no bind or connect to disturb it)."""
    want = f"0100007F:{port:04X}"
    with open("/proc/net/tcp") as f:
        return any(line.split()[1] == want and line.split()[3] == "0A" for line in f.readlines()[1:])


REPORT = r"""
import json, os, sys
fds = []
for fd in range(3, 256):
    try:
        os.fstat(fd)
        fds.append(fd)
    except OSError:
        pass
env = {k: v for k, v in os.environ.items() if k in ("PYLAUNCHD_PREBOUND", "PYLAUNCHD_FRONT_END", "PYLAUNCHD_PREBIND")}
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump({"fds": fds, "env": env, "listen_fds": os.environ.get("LISTEN_FDS")}, f)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
"""


def test_jobs_see_neither_the_front_ends_variables_nor_its_descriptors(manager_factory, front_ends, workdir):
    import json

    m = manager_factory(start=False)
    m.command = [front_ends["plain"]]
    report = workdir / "report.json"
    m.write("report.plist", plist("test.fe.report", ProgramArguments=[PYTHON, "-c", REPORT, str(report)],
                                RunAtLoad=True, Sockets={"Listeners": {"SockNodeName": "127.0.0.1",
                                                                       "SockServiceName": str(free_port())}}))
    for i in range(3):  # others' sockets, bound by the front end too
        m.write(f"other{i}.plist", echo_job(f"test.fe.other{i}", {"SockNodeName": "127.0.0.1",
                                                                  "SockServiceName": str(free_port())}))
    m.start()
    wait_for(report.exists, 15, what="the job's report")
    seen = json.loads(report.read_text())
    assert seen["env"] == {} and seen["listen_fds"] == "1"
    assert seen["fds"] == [3], seen  # its one socket; nothing of the front end's


def test_version_says_which_command_started_the_manager(front_ends):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYLAUNCHD_")}
    lines = subprocess.run([front_ends["plain"], "--version"], capture_output=True, text=True, env=env,
                           timeout=60, check=True).stdout.splitlines()
    assert lines[2] == f"front end: C, {front_ends['plain']} (binds the jobs' network and unix sockets before " \
                       f"Python starts)", lines
    alone = subprocess.run([sys.executable, "-m", "pylaunchd", "--version"], capture_output=True, text=True,
                           env=dict(env, PYTHONSAFEPATH="1"), cwd="/", timeout=60, check=True).stdout
    assert "front end: none" in alone

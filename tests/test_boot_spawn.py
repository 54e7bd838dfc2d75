"""Jobs started by boot before the loop (pylaunchd/bootspawn.py) are the same jobs afterwards.

A RunAtLoad / KeepAlive job is spawned right after the early binds and then
adopted by its job: its pid in ``print``, one run, its LISTEN_FDS socket and
NOTIFY_SOCKET, its output in the job log and in StandardOutPath, its
readiness, its exit status, a KeepAlive restart, SIGTERM and the ExitTimeOut
SIGKILL at shutdown. In a real PID namespace (root) and as a plain
subprocess. What the table would not load, or might load from another plist,
is not spawned early. The manager's log line ``started pid N (run at load,
at boot)`` says which path a start took, so each test fails if a job was
started later by the runtime instead (or early when it must not be).
"""

from __future__ import annotations

import os
import signal
import socket
import sys

import pytest

from conftest import PYTHON, ManagerProcess, plist, wait_for
from test_pid1 import UNSHARE, _namespace_problem

from pylaunchd.bootspawn import starts_at_load
from pylaunchd.domain import Overrides
from pylaunchd.spec import validate

# A job: says what it got, answers on fd 3, sends READY=1, exits 3 once
# (until DIR/go exists), serves, and notes SIGTERM in DIR/term.
JOB = r"""
import os, socket, sys, time, signal
d = sys.argv[1]
print(f"pid={os.getpid()} listen_pid={os.environ.get('LISTEN_PID')} fds={os.environ.get('LISTEN_FDS')} "
      f"names={os.environ.get('LISTEN_FDNAMES')}", flush=True)
signal.signal(signal.SIGTERM, lambda *a: (open(os.path.join(d, "term"), "a").write(f"{os.getpid()}\n"), os._exit(0)))
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
n.sendto(f"READY=1\nSTATUS=serving as {os.getpid()}".encode(), os.environ["NOTIFY_SOCKET"])
if not os.path.exists(os.path.join(d, "ran")):
    open(os.path.join(d, "ran"), "w").close()
    while not os.path.exists(os.path.join(d, "go")):
        time.sleep(0.02)
    sys.exit(3)
s = socket.socket(fileno=3)
while True:
    c, _ = s.accept()
    c.sendall(f"hello from {os.getpid()}\n".encode())
    c.close()
"""


def _boot_started(m: ManagerProcess, label: str) -> list[int]:
    """The pids boot started for *label*, by the manager's log."""
    marker = f"({label}) started pid "
    return [int(line.split(marker)[1].split()[0]) for line in m.log().splitlines()
            if marker in line and "(run at load, at boot)" in line]


def _ask(path: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
        c.settimeout(10)
        c.connect(path)
        return c.makefile().readline().strip()


@pytest.fixture(params=["plain", "pidns"])
def booted(request, workdir):
    """A manager (plain subprocess, or PID 1 of a new PID namespace) with three boot jobs."""
    if request.param == "pidns" and _namespace_problem():
        pytest.skip(_namespace_problem())
    m = ManagerProcess(workdir, prefix=UNSHARE if request.param == "pidns" else ())
    script = workdir / "job.py"
    script.write_text(JOB)
    m.write("early.plist", plist("test.early", RunAtLoad=True, KeepAlive=True, ThrottleInterval=0,
                                 ProgramArguments=[PYTHON, "-S", str(script), str(workdir)],
                                 Sockets={"Listeners": {"SockPathName": str(workdir / "early.sock")}}))
    m.write("file.plist", plist("test.file", RunAtLoad=True, StandardOutPath=str(workdir / "out.txt"),
                                ProgramArguments=["/bin/sh", "-c", "echo to the file from $$"]))
    m.write("stubborn.plist", plist("test.stubborn", RunAtLoad=True, ExitTimeOut=1, ProgramArguments=[
        "/bin/sh", "-c", f"trap 'echo $$ >> {workdir}/stubborn-term' TERM; while :; do sleep 0.05; done"]))
    m.pidns = request.param == "pidns"
    try:
        m.start()
        yield m
    finally:
        if m.proc is not None and m.proc.poll() is None:
            _shutdown(m)  # also after a failure: unshare forwards no signal, the init would outlive it
        m.stop(timeout=30)


def _shutdown(m: ManagerProcess) -> int:
    """SIGTERM to the manager itself (in a namespace: its init, by its host PID); its exit status."""
    if m.pidns:
        with open(f"/proc/{m.proc.pid}/task/{m.proc.pid}/children") as f:
            inits = [int(p) for p in f.read().split()]
        for pid in inits:
            os.kill(pid, signal.SIGTERM)
    else:
        m.proc.send_signal(signal.SIGTERM)
    return m.proc.wait(timeout=30)


def test_a_job_started_at_boot_is_the_same_job_afterwards(booted, workdir):
    m = booted
    [pid] = _boot_started(m, "test.early")
    info = m.wait_state("test.early", lambda i: i["ready"], what="READY=1 from the boot process")
    assert (info["pid"], info["runs"], info["status_text"]) == (pid, 1, f"serving as {pid}")
    assert info["last_trigger"] == "run at load" and info["state"] == "running"
    log = m.ctl("log", "test.early").stdout
    assert f"pid={pid} listen_pid={pid} fds=1 names=Listeners" in log, log
    assert f"started pid {pid} (run at load, at boot)" in log

    (workdir / "go").touch()  # it exits 3: KeepAlive starts it again, by the runtime this time
    info = m.wait_state("test.early", lambda i: i["runs"] == 2 and i["pid"], what="a KeepAlive restart")
    assert info["last_exit"]["code"] == 3 and info["pid"] != pid
    assert _ask(str(workdir / "early.sock")) == f"hello from {info['pid']}"
    assert _boot_started(m, "test.early") == [pid], "the restart is the runtime's"

    [file_pid] = _boot_started(m, "test.file")
    m.wait_state("test.file", lambda i: i["last_exit"] is not None, what="its exit, reaped for it")
    assert (workdir / "out.txt").read_text() == f"to the file from {file_pid}\n"
    assert m.info("test.file")["runs"] == 1 and m.info("test.file")["last_exit"]["code"] == 0

    [stubborn] = _boot_started(m, "test.stubborn")
    status = _shutdown(m)
    assert status == (3 if m.pidns else 0), m.log()[-3000:]  # PID 1 says it had to SIGKILL
    assert (workdir / "term").read_text() == f"{info['pid']}\n"
    assert (workdir / "stubborn-term").read_text() == f"{stubborn}\n", "SIGTERM first, to the boot process"
    assert "(test.stubborn) Exit timeout elapsed (1 seconds). Killing" in m.log()


def test_a_job_that_exits_before_the_manager_runs_is_reaped_for_its_job(manager_factory, workdir):
    m = manager_factory(start=False)
    m.write("quick.plist", plist("test.quick", RunAtLoad=True, ProgramArguments=["/bin/sh", "-c", "exit 5"]))
    m.start()
    [pid] = _boot_started(m, "test.quick")
    info = m.wait_state("test.quick", lambda i: i["last_exit"] is not None, what="its exit status")
    assert (info["runs"], info["last_exit"]["code"], info["pid"]) == (1, 5, None)
    assert f"started pid {pid} (run at load, at boot)" in m.ctl("log", "test.quick").stdout


def test_output_written_before_the_manager_reads_it_reaches_the_job_log(manager_factory, workdir):
    """300 KiB at once, more than a default pipe's 64 KiB, from a job started at boot: its pipe (1 MiB)
    holds it until the runtime drains it, and the job is not blocked meanwhile."""
    m = manager_factory(start=False)
    m.write("chatty.plist", plist("test.chatty", RunAtLoad=True, ProgramArguments=[
        PYTHON, "-S", "-c", "import sys; sys.stdout.write(('x' * 1023 + '\\n') * 300); sys.stdout.write('end\\n')"]))
    m.start()
    assert _boot_started(m, "test.chatty")
    m.wait_state("test.chatty", lambda i: i["last_exit"] is not None, what="its exit")
    text = (m.state_dir / "logs" / "test.chatty.log").read_text()  # read before its exit was acted on
    assert text.count("x" * 1023 + "\n") == 300 and "\nend\n" in text
    assert m.info("test.chatty")["last_exit"]["code"] == 0


def test_what_the_table_may_not_load_as_read_is_not_spawned_early(manager_factory, workdir):
    m = manager_factory(start=False)
    Overrides(str(m.state_dir)).set_disabled("test.disabled", True)
    m.write("disabled.plist", plist("test.disabled", RunAtLoad=True, ProgramArguments=["/bin/sleep", "30"]))
    for name in ("a", "b"):  # one label, two plists: which one loads is the table's choice
        m.write(f"dup-{name}.plist", plist("test.dup", RunAtLoad=True, ProgramArguments=[
            "/bin/sh", "-c", f"echo {name} >> {workdir}/dup.log; exec sleep 30"]))
    m.write("demand.plist", plist("test.demand", ProgramArguments=["/bin/sleep", "30"],
                                  Sockets={"S": {"SockPathName": str(workdir / "demand.sock")}}))
    m.start()
    info = m.wait_state("test.dup", lambda i: i["pid"], what="one of the two plists to run")
    assert m.info("test.disabled") is None and "test.disabled" in m.log()
    assert m.info("test.demand")["pid"] is None
    for label in ("test.disabled", "test.dup", "test.demand"):
        assert _boot_started(m, label) == [], f"{label} was started at boot"
    wait_for(lambda: (workdir / "dup.log").exists(), 10, what="the loaded plist's job to write")
    assert len((workdir / "dup.log").read_text().split()) == 1 and info["runs"] == 1


@pytest.mark.parametrize("keys,expected", [
    ({"RunAtLoad": True}, True),
    ({"KeepAlive": True}, True),
    ({"KeepAlive": {"SuccessfulExit": False}}, True),
    ({"KeepAlive": {"SuccessfulExit": False, "AfterInitialDemand": True}}, False),
    ({"KeepAlive": {"PathState": {"/nonexistent": True}}}, False),
    ({}, False),
    ({"RunAtLoad": True, "inetdCompatibility": {"Wait": True}}, False),
    ({"RunAtLoad": True, "MachServices": {"org.example.Boot": True}}, False),
])
def test_which_jobs_boot_starts(keys, expected):
    spec = validate(plist("test.k", ProgramArguments=["/bin/true"], **keys), "/x/test.k.plist")
    assert starts_at_load(spec) is expected


def test_the_boot_path_imports_neither_the_loop_nor_the_manager():
    """Before the first spawn: no asyncio, manager, watchdog or control server."""
    code = ("import sys, pylaunchd.cli.pylaunchd, pylaunchd.boot, pylaunchd.bootspawn; "
            "print(sorted(m for m in ('asyncio', 'pylaunchd.manager', 'watchdog', 'pylaunchd.control.server', "
            "'pylaunchd.runtime', 'typer') if m in sys.modules))")
    import subprocess
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]"

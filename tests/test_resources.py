"""Resources running out: a full file system under the job logs, the
manager's descriptors exhausted while it accepts, a job leaving 1,000
orphans. The manager keeps running and serving, says what happened, and
recovers when the condition ends."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import children, connect_and_talk, plist

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs")


def warnings(manager, label: str) -> list[str]:
    return manager.info(label)["warnings"]


@needs_root
def test_a_full_log_file_system_fails_no_job_and_is_recovered_from(manager_factory, workdir):
    logs = workdir / "state" / "logs"
    logs.mkdir(parents=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(logs)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        ballast, once = logs / "ballast", workdir / "once"
        ballast.write_bytes(b"b" * (1024 * 1024 - 64 * 1024))
        m = manager_factory()
        script = f"[ -e {once} ] || yes line | head -c 2000000; echo end"
        m.write("big.plist", plist("test.big", RunAtLoad=True, ProgramArguments=["/bin/sh", "-c", script]))
        info = m.wait_state("test.big", lambda i: i.get("last_exit_status") is not None, 30, "the writer to exit")
        assert info["last_exit_status"] == 0, "a full disk under its log does not fail the job"
        [problem] = [w for w in warnings(m, "test.big") if "cannot write its log" in w]
        assert "No space left on device" in problem and "test.big.log" in problem
        assert "cannot write its log" in m.log() and "Traceback" not in m.log()
        assert m.jobs()[0]["label"] == "test.big", "still serving"
        ballast.unlink()  # space again
        once.touch()
        m.ctl("kickstart", "system/test.big" if os.geteuid() == 0 else f"gui/{os.getuid()}/test.big")
        m.wait(lambda: not [w for w in warnings(m, "test.big") if "cannot write" in w], 30, "the log to recover")
        m.wait(lambda: "end" in (logs / "test.big.log").read_text(errors="replace").split(), 10, "output on disk")
        assert "writing " in m.log() and " again" in m.log()
        m.stop()
    finally:
        subprocess.run(["umount", "-l", str(logs)])


def manager_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs prlimit (util-linux)")
def test_descriptors_exhausted_while_accepting_neither_spins_nor_crashes(manager_factory):
    """RLIMIT_NOFILE 96: idle control clients take every descriptor the
    manager has left, then a client connects to an inetd job. accept() fails
    with EMFILE: the manager says so, does not spin, and once the idle
    clients go, the waiting connection is served."""
    m = manager_factory(start=False, prefix=["prlimit", "--nofile=96:96", "--"])
    m.write("echo.plist", plist("test.echo", ProgramArguments=["/bin/cat"], inetdCompatibility={"Wait": False},
                                Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": 0}}))
    m.start()
    port = m.port("test.echo")
    fd_dir = f"/proc/{m.proc.pid}/fd"
    hogs = []
    try:
        for _ in range(120):  # more than it has left; the rest wait in the queue
            s = socket.socket(socket.AF_UNIX)
            s.connect(m.socket)
            hogs.append(s)
        m.wait(lambda: len(os.listdir(fd_dir)) >= 95, 5, "the manager's descriptors to run out")
        waiting = socket.create_connection(("127.0.0.1", port), timeout=30)
        m.wait(lambda: "cannot accept connections: Too many open files" in m.log(), 5, "the manager to say so")
        before, t0 = manager_cpu_seconds(m.proc.pid), time.monotonic()
        m.wait(lambda: time.monotonic() - t0 >= 1.5, 3, "a second and a half")
        busy = (manager_cpu_seconds(m.proc.pid) - before) / (time.monotonic() - t0)
        assert busy < 0.3, f"the manager spins at {busy:.0%} CPU while it cannot accept"
    finally:
        for s in hogs:
            s.close()
    waiting.sendall(b"still here\n")
    waiting.shutdown(socket.SHUT_WR)
    assert waiting.recv(100) == b"still here\n", "the connection that waited is served"
    waiting.close()
    assert connect_and_talk(port, b"again\n") == b"again\n"
    m.wait(lambda: "accepting connections again" in m.log(), 5, "the manager to say it recovered")
    assert "control socket: cannot accept a connection: Too many open files; accepting again in 1 s" in m.log()
    assert m.jobs()[0]["label"] == "test.echo", "the control socket serves again"
    assert m.proc.poll() is None and "Traceback" not in m.log()


def test_a_job_that_leaves_1000_children_has_them_all_reaped(manager):
    """They are orphans: reparented to the manager (a child subreaper) as the
    job exits; once they end (the test stops them, by PID) every one is
    reaped, none left a zombie, and the manager serves on."""
    manager.write("f.plist", plist("test.forker", RunAtLoad=True, AbandonProcessGroup=True, ProgramArguments=[
        "/bin/sh", "-c", "for i in $(seq 1000); do sleep 120 & done; exit 0"]))
    info = manager.wait_state("test.forker", lambda i: i.get("last_exit_status") is not None, 60, "the job to exit")
    assert info["last_exit_status"] == 0
    orphans = manager.wait(lambda: (lambda c: c if len(c) >= 1000 else None)(children(manager.proc.pid)), 30,
                           "the orphans to be the manager's")
    for pid in orphans:
        os.kill(pid, signal.SIGTERM)
    manager.wait(lambda: not children(manager.proc.pid), 60, "every orphan to be reaped")
    assert manager.jobs()[0]["label"] == "test.forker"
    assert "Traceback" not in manager.log(), manager.log()[-3000:]


def test_a_storm_of_signals_leaves_no_traceback(manager):
    """A regression the 1,000 orphans found: each signal writes a byte to
    asyncio's wake-up socket, and a burst fills it; Python then printed
    "Exception ignored when trying to write to the signal wakeup fd" with a
    traceback. One byte pending is enough to wake the loop: the manager asks
    for no warning when the buffer is full."""
    for _ in range(50_000):
        os.kill(manager.proc.pid, signal.SIGCHLD)
    assert request_ok(manager)
    assert "Traceback" not in manager.log() and "wakeup fd" not in manager.log()


def request_ok(manager) -> bool:
    return manager.jobs() == []

"""Readiness (sd_notify) and the watchdog, through the real manager on a fake
clock (tests/inprocess.py) with real jobs that send to NOTIFY_SOCKET; and
the orphans of a job that daemonizes, reparented to the manager (a child
subreaper) and reported as the PID it left behind."""

from __future__ import annotations

import os
import signal
import sys

from inprocess import run_in_process

from pylaunchd.control.service import ControlService

NOTIFIER = os.path.join(os.path.dirname(__file__), "jobs", "notifier.py")


def notifier(*args: str) -> list[str]:
    return [sys.executable, NOTIFIER, *args]


def test_ready_and_status_come_from_the_jobs_main_process(tmp_path):
    go = tmp_path / "go"

    async def body(h):
        service = ControlService(h.manager)
        job = h.load("test.ready", ProgramArguments=notifier("--wait-for", str(go), "STATUS=warming up",
                                                             "@wait", "READY=1\\nSTATUS=serving"), RunAtLoad=True)
        await h.until(lambda: service.status("test.ready").status_text == "warming up", "STATUS=warming up")
        info = service.status("test.ready")
        assert not info.ready and info.pid == job.machine.pid
        go.write_text("")
        await h.until(lambda: service.status("test.ready").ready, "READY=1")
        assert service.status("test.ready").status_text == "serving"
        assert service.status("test.ready").to_json()["ready"] is True

    run_in_process(tmp_path, body)


def test_a_message_from_a_child_of_the_job_counts_for_the_job(tmp_path):
    async def body(h):
        service = ControlService(h.manager)
        h.load("test.child", RunAtLoad=True, ProgramArguments=[
            "/bin/sh", "-c", f'"{sys.executable}" -c "{_SEND}" "READY=1"; exec sleep 60'])
        await h.until(lambda: service.status("test.child").ready, "READY=1 from the shell's child")

    run_in_process(tmp_path, body)


# Sends argv[1] to NOTIFY_SOCKET and exits: a child of the job's shell.
_SEND = ("import os,socket,sys; a=os.environ['NOTIFY_SOCKET']; a='\\\\0'+a[1:] if a[0]=='@' else a; "
         "socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM).sendto(sys.argv[1].encode(),a)")


def test_jobs_get_notify_socket_and_the_watchdog_variables(tmp_path):
    out = tmp_path / "env"

    async def body(h):
        job = h.load("test.env", RunAtLoad=True, WatchdogInterval=7, ProgramArguments=[
            "/bin/sh", "-c", f'echo "$NOTIFY_SOCKET $WATCHDOG_USEC $WATCHDOG_PID $$" > {out}'])
        await h.until(lambda: out.exists() and out.read_text().count(" ") == 3, "the job's environment")
        sock, usec, wpid, pid = out.read_text().split()
        assert sock == h.manager.notify.address and usec == "7000000" and wpid == pid
        await h.settle(job)

    run_in_process(tmp_path, body)


def _watchdog_test(tmp_path, ignore_abrt: bool, expected: int):
    async def body(h):
        service = ControlService(h.manager)
        flags = ["--ignore-abrt"] if ignore_abrt else []
        job = h.load("test.hung", KeepAlive=True, WatchdogInterval=5, ExitTimeOut=2,
                     ProgramArguments=notifier(*flags, "READY=1\\nWATCHDOG=1"))
        first = job.machine.pid
        await h.until(lambda: h.manager.notify.readiness(job).last_ping is not None, "the first WATCHDOG=1")
        assert service.status("test.hung").watchdog_interval == 5
        h.clock.advance(4.9)
        assert job.machine.pid == first and job.machine.runs == 1, "within the interval nothing happens"
        h.clock.advance(0.2)  # 5 s without WATCHDOG=1: SIGABRT
        if ignore_abrt:
            h.clock.advance(2)  # it ignores SIGABRT: SIGKILL after its ExitTimeOut
        await h.until(lambda: job.machine.pid is None or job.machine.pid != first, "the hung job to die")
        assert job.machine.last_exit.signal == expected
        h.clock.advance(10)  # KeepAlive restarts it once its throttle has passed
        await h.until(lambda: job.machine.runs == 2 and job.machine.pid not in (None, first), "the restart")
        assert not service.status("test.hung").ready, "a new process is not ready until it says so"

    run_in_process(tmp_path, body)


def test_the_watchdog_aborts_a_job_that_stops_sending_and_keepalive_restarts_it(tmp_path):
    _watchdog_test(tmp_path, ignore_abrt=False, expected=signal.SIGABRT)


def test_the_watchdog_kills_a_job_that_ignores_sigabrt(tmp_path):
    _watchdog_test(tmp_path, ignore_abrt=True, expected=signal.SIGKILL)


_DAEMONIZE = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        open(sys.argv[1] + ".tmp", "w").write(str(os.getpid()))
        os.rename(sys.argv[1] + ".tmp", sys.argv[1])
        deadline = time.monotonic() + 30
        while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:
            time.sleep(0.01)
        os._exit(0)
    os._exit(0)
os.wait()
"""


def test_a_job_that_daemonizes_is_reported_with_the_pid_it_left(tmp_path):
    pidfile, stop = tmp_path / "daemon.pid", tmp_path / "stop"

    async def body(h):
        service = ControlService(h.manager)
        job = h.load("test.daemon", RunAtLoad=True,
                     ProgramArguments=[sys.executable, "-c", _DAEMONIZE, str(pidfile), str(stop)])
        await h.until(pidfile.exists, "the daemon's pid file")
        daemon = int(pidfile.read_text())
        try:
            await h.settle(job)
            assert job.machine.last_exit.code == 0
            await h.until(lambda: service.status("test.daemon").daemon_pid == daemon, "the PID it left")
            reaped = h.manager.orphans.reaped
            stop.write_text("")
            await h.until(lambda: h.manager.orphans.reaped > reaped, "the orphan to be reaped by the manager")
            assert service.status("test.daemon").daemon_pid is None
        finally:
            try:
                os.kill(daemon, signal.SIGKILL)
            except ProcessLookupError:
                pass

    run_in_process(tmp_path, body)

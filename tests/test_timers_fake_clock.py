"""Time-dependent behaviour through the real manager code, on a fake clock.

Throttling, ExitTimeOut, StartInterval and StartCalendarInterval (with a
suspend and a wall-clock change) run in an in-process manager
(tests/inprocess.py) with real child processes; the fake clock makes a
minute pass at once. One real-time smoke test per trigger kind stays in
test_triggers_integration.py and test_core_integration.py.
"""

from __future__ import annotations

import asyncio
import datetime
import os
import signal

from inprocess import run_in_process

from pylaunchd.jobtypes import Phase


def counter(log):
    return ["/bin/sh", "-c", f"echo run >> {log}"]


def runs_in(path) -> int:
    try:
        return len(path.read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_calendar_job_runs_at_the_top_of_the_minute_not_at_load(tmp_path):
    log = tmp_path / "cal.log"

    async def body(h):
        job = h.load("test.calendar", ProgramArguments=counter(log), StartCalendarInterval={})
        assert job.machine.runs == 0, "a calendar job does not run at load"
        h.clock.advance(29.9)  # 11:59:59.9
        assert job.machine.runs == 0
        h.clock.advance(0.1)  # 12:00:00
        assert job.machine.runs == 1 and job.machine.last_trigger == "StartCalendarInterval"
        assert h.clock.wall() == datetime.datetime(2026, 1, 5, 12, 0, 0), "it ran at the top of a minute"
        await h.until(lambda: runs_in(log) == 1, "the run's line")
        await h.settle(job)
        h.clock.advance(60)
        assert job.machine.runs == 2

    run_in_process(tmp_path, body, wall=datetime.datetime(2026, 1, 5, 11, 59, 30))


def test_calendar_firings_missed_during_a_suspend_start_the_job_once(tmp_path):
    async def body(h):
        job = h.load("test.hourly", ProgramArguments=["/bin/true"], StartCalendarInterval={"Minute": 0})
        h.clock.advance(1800 + 60)  # 09:00 fires while awake
        assert job.machine.runs == 1
        await h.settle(job)
        h.clock.suspend(5 * 3600)  # 10:00 .. 14:00 missed while asleep
        assert job.machine.runs == 1, "nothing runs while the monotonic clock stands still"
        h.clock.advance(60)  # awake: within a minute, one start for all of them
        assert job.machine.runs == 2
        await h.settle(job)
        h.clock.advance(3600)  # then 15:00 on schedule, and nothing else
        assert job.machine.runs == 3

    run_in_process(tmp_path, body, wall=datetime.datetime(2024, 5, 1, 8, 30))


def test_calendar_wall_clock_set_forward_fires_once(tmp_path):
    async def body(h):
        job = h.load("test.daily", ProgramArguments=["/bin/true"], StartCalendarInterval={"Hour": 3, "Minute": 0})
        h.clock.set_wall(datetime.datetime(2024, 5, 2, 3, 0, 30))  # someone sets the clock past 03:00
        h.clock.advance(60)
        assert job.machine.runs == 1
        await h.settle(job)
        h.clock.advance(3600)
        assert job.machine.runs == 1

    run_in_process(tmp_path, body, wall=datetime.datetime(2024, 5, 1, 22, 0))


def test_throttle_holds_a_respawn_until_throttle_interval_after_the_previous_spawn(tmp_path):
    async def body(h):
        job = h.load("test.throttled", ProgramArguments=["/bin/true"], KeepAlive=True, ThrottleInterval=10)
        assert job.machine.runs == 1
        await h.until(lambda: job.machine.phase is Phase.THROTTLED, "the throttle after a quick exit")
        assert job.machine.throttled_until == job.machine.last_spawn + 10
        h.clock.advance(9.9)
        assert job.machine.runs == 1 and job.machine.phase is Phase.THROTTLED
        h.clock.advance(0.1)
        assert job.machine.runs == 2
        text = "\n".join(job.log.tail(50)[0])
        assert "Pushing respawn out by 10 seconds." in text

    run_in_process(tmp_path, body)


def test_exit_timeout_sigkills_a_job_that_ignores_sigterm(tmp_path):
    ready = tmp_path / "trapped"

    async def body(h):
        job = h.load("test.stubborn", RunAtLoad=True, ExitTimeOut=5, ProgramArguments=[
            "/bin/sh", "-c", f"trap '' TERM; touch {ready}; while :; do sleep 1; done"])
        await h.until(ready.exists, "the job to ignore SIGTERM")
        pid = job.machine.pid
        job.stop()
        assert job.machine.phase is Phase.STOPPING
        h.clock.advance(4.9)
        assert os.path.exists(f"/proc/{pid}") and job.machine.pid == pid, "still given its ExitTimeOut"
        h.clock.advance(0.1)
        await h.settle(job, "the SIGKILL to be reaped")
        assert job.machine.last_exit.signal == signal.SIGKILL

    run_in_process(tmp_path, body)


def test_start_interval_runs_the_job_every_interval(tmp_path):
    async def body(h):
        job = h.load("test.interval", ProgramArguments=["/bin/true"], StartInterval=30, ThrottleInterval=0)
        assert job.machine.runs == 0
        h.clock.advance(30)
        assert job.machine.runs == 1 and job.machine.last_trigger == "StartInterval"
        await h.settle(job)
        h.clock.advance(30)
        assert job.machine.runs == 2

    run_in_process(tmp_path, body)


def test_a_per_connection_job_whose_socket_is_past_fd_1024_is_served(tmp_path):
    """With thousands of jobs a listening socket's fd is past select()'s
    limit of 1024: accepting must still work (it once raised in a loop that
    kept a core busy and never served the client)."""
    import resource
    import socket

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        import pytest
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below 1200")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    filler = [os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC) for _ in range(1100)]
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()

    async def body(h):
        job = h.load("test.highfd", ProgramArguments=["/bin/echo", "served"], inetdCompatibility={"Wait": False},
                     Sockets={"L": {"SockNodeName": "127.0.0.1", "SockServiceName": str(number)}})
        assert job.flat_sockets()[0][1].fileno() > 1024
        reader, writer = await asyncio.open_connection("127.0.0.1", number)
        line = await asyncio.wait_for(reader.readline(), 10)
        writer.close()
        assert line == b"served\n" and job.machine.runs == 1
        await h.settle(job)

    try:
        run_in_process(tmp_path, body)
    finally:
        for fd in filler:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

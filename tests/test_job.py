"""Unit tests of the job state machine (pylaunchd.job).

No processes, sockets, sleeps or clocks: every event gets ``now`` as a plain
number and the tests look at the actions the machine answers with. Specs are
built with ``pylaunchd.spec.validate`` so each test reads like its plist.
"""

from __future__ import annotations

import os
import signal

import pytest

from pylaunchd.job import (MAX_INSTANCES, RUNNING, STOPPING, THROTTLED, WAITING, AcceptAndSpawn,
                           CancelTimer, ExitStatus, IgnoreSockets, InstanceKill, JobMachine, Kill, KillGroup, Log, Remove,
                           SetTimer, Spawn, SwapSockets, Timer, WatchSockets)
from pylaunchd.spec import validate

LISTENERS = {"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 8080}}
TWO_GROUPS = {"a": {"SockServiceName": 8080}, "b": {"SockServiceName": 8081, "SockProtocol": "UDP"}}

CLEAN = ExitStatus(code=0)
FAILED = ExitStatus(code=1)


def spec(**keys):
    raw = {"Label": "test.job", "ProgramArguments": ["/usr/bin/server", "--flag"]}
    raw.update(keys)
    return validate(raw, "/jobs/test.job.plist")


def job(**keys) -> JobMachine:
    return JobMachine(spec(**keys))


def sig(signum: int) -> ExitStatus:
    return ExitStatus(signal=int(signum))


def of(acts, cls):
    return [a for a in acts if isinstance(a, cls)]


def spawns(acts):
    return of(acts, Spawn)


def messages(acts, level=None):
    return [a.message for a in of(acts, Log) if level is None or a.level == level]


def running(j: JobMachine, pid: int, now: float, acts) -> JobMachine:
    """Carry out the Spawn in *acts* as the manager would: the child got *pid*."""
    assert len(spawns(acts)) == 1, acts
    assert j.spawned(pid, now) == []
    assert j.state == RUNNING and j.pid == pid
    return j


def started(pid: int = 100, now: float = 0.0, **keys) -> JobMachine:
    """A job that was loaded at *now* and whose process *pid* runs."""
    j = job(**keys)
    return running(j, pid, now, j.load(now))


# ---------------------------------------------------------------------------
# On-demand jobs and their sockets


def test_on_demand_job_waits_and_watches_its_sockets_at_load():
    j = job(Sockets=LISTENERS)
    acts = j.load(0)
    assert acts == [WatchSockets()]
    assert j.state == WAITING and j.watching and j.pid is None and j.runs == 0


def test_on_demand_job_without_sockets_does_nothing_at_load():
    j = job()
    assert j.load(0) == []
    assert j.state == WAITING and not j.watching


def test_socket_readable_spawns_and_ignores_the_sockets():
    j = job(Sockets=LISTENERS)
    j.load(0)
    acts = j.socket_readable(0, "Listeners", 5)
    assert acts == [IgnoreSockets(), Spawn("socket Listeners readable", None)]
    running(j, 100, 5, acts)
    assert not j.watching and j.runs == 1 and j.last_spawn == 5
    # While it runs its sockets are not watched: a stray readable event is ignored.
    assert j.socket_readable(0, "Listeners", 6) == []


def test_exit_of_on_demand_job_watches_the_sockets_again():
    j = job(Sockets=LISTENERS)
    j.load(0)
    running(j, 100, 5, j.socket_readable(0, "Listeners", 5))
    acts = j.exited(100, CLEAN, 60)
    assert WatchSockets() in acts
    assert spawns(acts) == []
    assert CancelTimer(Timer.KILL) in acts
    assert j.state == WAITING and j.watching and j.pid is None
    assert j.last_exit == CLEAN
    # The next client starts it again.
    assert spawns(j.socket_readable(0, "Listeners", 70)) == [Spawn("socket Listeners readable")]


def test_run_at_load_spawns_at_load():
    j = job(RunAtLoad=True, Sockets=LISTENERS)
    acts = j.load(0)
    assert acts == [Spawn("run at load")]
    assert j.state == RUNNING and not j.watching


def test_run_at_load_job_is_not_restarted_after_exit():
    j = started(RunAtLoad=True)
    acts = j.exited(100, CLEAN, 30)
    assert spawns(acts) == [] and j.state == WAITING


def test_exit_of_an_unknown_pid_is_ignored():
    j = started(RunAtLoad=True)
    assert j.exited(999, CLEAN, 1) == []
    assert j.state == RUNNING and j.pid == 100


# ---------------------------------------------------------------------------
# KeepAlive


def test_keepalive_true_starts_at_load_and_restarts_after_every_exit():
    j = job(KeepAlive=True)
    acts = j.load(0)
    assert spawns(acts) == [Spawn("run at load")]
    now = 0
    for pid, exit in [(100, CLEAN), (101, FAILED), (102, sig(signal.SIGKILL)), (103, sig(signal.SIGSEGV))]:
        j.spawned(pid, now)
        now += 30  # longer than ThrottleInterval: no throttling
        acts = j.exited(pid, exit, now)
        assert spawns(acts) == [Spawn("KeepAlive")], (exit, acts)
        assert j.state == RUNNING
    assert j.runs == 5


def test_ondemand_false_is_keepalive_true():
    j = job(OnDemand=False)
    assert spawns(j.load(0)) == [Spawn("run at load")]


@pytest.mark.parametrize("keep_alive", [{"SuccessfulExit": True}, {"SuccessfulExit": False},
                                        {"Crashed": True}, {"Crashed": False}])
def test_keepalive_conditions_imply_run_at_load(keep_alive):
    j = job(KeepAlive=keep_alive)
    assert spawns(j.load(0)) == [Spawn("run at load")]


def test_empty_keepalive_dictionary_is_on_demand():
    j = job(KeepAlive={}, Sockets=LISTENERS)
    assert j.load(0) == [WatchSockets()]


@pytest.mark.parametrize("exit, restarted", [
    (CLEAN, True),
    (FAILED, False),
    (ExitStatus(code=78), False),
    (sig(signal.SIGTERM), False),
    (sig(signal.SIGSEGV), False),
])
def test_keepalive_successful_exit_true_restarts_only_after_exit_0(exit, restarted):
    j = started(KeepAlive={"SuccessfulExit": True}, Sockets=LISTENERS)
    acts = j.exited(100, exit, 30)
    assert bool(spawns(acts)) is restarted
    if not restarted:
        # Falls back to on-demand behaviour: its sockets work again.
        assert WatchSockets() in acts and j.state == WAITING


@pytest.mark.parametrize("exit, restarted", [
    (CLEAN, False),
    (FAILED, True),
    (ExitStatus(code=255), True),
    (sig(signal.SIGTERM), True),  # a signal is not a successful exit
    (sig(signal.SIGKILL), True),
    (sig(signal.SIGSEGV), True),
])
def test_keepalive_successful_exit_false_restarts_after_anything_but_exit_0(exit, restarted):
    j = started(KeepAlive={"SuccessfulExit": False})
    acts = j.exited(100, exit, 30)
    assert bool(spawns(acts)) is restarted
    assert j.state == (RUNNING if restarted else WAITING)


@pytest.mark.parametrize("exit, restarted", [
    (sig(signal.SIGSEGV), True),
    (sig(signal.SIGABRT), True),
    (sig(signal.SIGBUS), True),
    (sig(signal.SIGILL), True),
    (sig(signal.SIGFPE), True),
    (sig(signal.SIGSYS), True),
    (sig(signal.SIGTRAP), True),
    (sig(signal.SIGTERM), False),
    (sig(signal.SIGKILL), False),
    (CLEAN, False),
    (FAILED, False),
])
def test_keepalive_crashed_true_restarts_only_after_a_crash(exit, restarted):
    j = started(KeepAlive={"Crashed": True})
    acts = j.exited(100, exit, 30)
    assert bool(spawns(acts)) is restarted


def test_keepalive_crashed_true_does_not_restart_a_job_we_stopped():
    j = started(KeepAlive={"Crashed": True})
    j.stop(30)
    # It crashed in its SIGTERM handler: launchd stopped it, so no restart.
    acts = j.exited(100, sig(signal.SIGSEGV), 31)
    assert spawns(acts) == [] and j.state == WAITING


@pytest.mark.parametrize("exit, restarted", [
    (CLEAN, True),  # the known foot-gun: a clean exit is "did not crash"
    (FAILED, True),
    (sig(signal.SIGTERM), True),
    (sig(signal.SIGSEGV), False),
    (sig(signal.SIGABRT), False),
])
def test_keepalive_crashed_false_restarts_after_anything_but_a_crash(exit, restarted):
    j = started(KeepAlive={"Crashed": False})
    acts = j.exited(100, exit, 30)
    assert bool(spawns(acts)) is restarted


def test_keepalive_conditions_are_ored():
    keep_alive = {"SuccessfulExit": True, "Crashed": True}
    for exit, restarted in [(CLEAN, True), (sig(signal.SIGSEGV), True), (FAILED, False)]:
        j = started(KeepAlive=keep_alive)
        assert bool(spawns(j.exited(100, exit, 30))) is restarted, exit


# ---------------------------------------------------------------------------
# Throttling


def test_respawn_within_throttle_interval_is_delayed_by_interval_minus_elapsed():
    j = started(pid=100, now=100.0, KeepAlive=True)  # ThrottleInterval defaults to 10
    acts = j.exited(100, CLEAN, 102.5)
    assert spawns(acts) == []
    assert "Service only ran for 2 seconds. Pushing respawn out by 8 seconds." in messages(acts, "warning")
    timers = of(acts, SetTimer)
    assert timers == [SetTimer(Timer.THROTTLE, 110.0)]
    assert timers[0].at - 102.5 == pytest.approx(10 - 2.5)  # exactly interval - elapsed
    assert j.state == THROTTLED and j.throttled_until == 110.0
    # The timer fires: the job is spawned.
    acts = j.timer(Timer.THROTTLE, 110.0)
    assert acts == [Spawn("KeepAlive")]
    assert j.state == RUNNING and j.last_spawn == 110.0 and j.throttled_until is None


def test_throttle_message_for_a_job_that_ran_for_no_time():
    j = started(now=0, KeepAlive=True)
    acts = j.exited(100, FAILED, 0.3)
    assert "Service only ran for 0 seconds. Pushing respawn out by 10 seconds." in messages(acts)
    assert of(acts, SetTimer) == [SetTimer(Timer.THROTTLE, 10)]


def test_throttle_message_with_throttle_interval_1():
    j = started(now=0, KeepAlive=True, ThrottleInterval=1)
    acts = j.exited(100, FAILED, 0.25)
    assert "Service only ran for 0 seconds. Pushing respawn out by 1 seconds." in messages(acts)
    assert of(acts, SetTimer) == [SetTimer(Timer.THROTTLE, 1)]


def test_custom_throttle_interval():
    j = started(now=50, KeepAlive=True, ThrottleInterval=30)
    acts = j.exited(100, CLEAN, 57.9)
    assert "Service only ran for 7 seconds. Pushing respawn out by 23 seconds." in messages(acts)
    assert of(acts, SetTimer) == [SetTimer(Timer.THROTTLE, 80)]


def test_a_run_of_no_time_is_not_reported_as_a_second_when_the_next_start_comes_later():
    j = job(Sockets=LISTENERS, ThrottleInterval=10)
    j.load(0)
    running(j, 100, 100, j.socket_readable(0, "Listeners", 100))
    assert "Exited with code: 1 after 0.0 s" in messages(j.exited(100, FAILED, 100.01))
    acts = j.socket_readable(0, "Listeners", 101.5)
    assert "Service only ran for 0 seconds. Pushing respawn out by 9 seconds." in messages(acts)


def test_a_job_failing_at_once_again_and_again_is_named_plainly_and_ever_more_rarely():
    j = job(KeepAlive=True, ThrottleInterval=1)
    j.load(0)
    said = []
    now = 0.0
    for pid in range(100, 140):
        if j.state == THROTTLED:
            now = j.throttled_until
            j.timer(Timer.THROTTLE, now)
        j.spawned(pid, now)
        now += 0.05
        if any("times in a row" in m for m in messages(j.exited(pid, FAILED, now), "error")):
            said.append(pid - 99)
    assert said == [5, 8, 16, 32]
    assert j.quick_failures == 40
    j.spawned(200, now)
    j.exited(200, CLEAN, now + 0.01)  # a clean exit ends the series
    assert j.quick_failures == 0


def test_throttle_interval_0_never_throttles():
    j = job(KeepAlive=True, ThrottleInterval=0)
    j.load(0)
    for pid in range(100, 110):
        j.spawned(pid, 0)
        acts = j.exited(pid, FAILED, 0)
        assert spawns(acts) == [Spawn("KeepAlive")]
        assert of(acts, SetTimer) == [] and j.state == RUNNING


def test_job_that_ran_longer_than_the_interval_restarts_immediately():
    j = started(now=0, KeepAlive=True)
    acts = j.exited(100, CLEAN, 10.0)  # exactly the interval: not throttled
    assert spawns(acts) == [Spawn("KeepAlive")]
    j.spawned(101, 10.0)
    acts = j.exited(101, CLEAN, 3610.0)
    assert spawns(acts) == [Spawn("KeepAlive")] and of(acts, SetTimer) == []


def test_throttle_is_measured_from_the_previous_spawn_not_the_exit():
    j = job(Sockets=LISTENERS)
    j.load(0)
    running(j, 100, 100, j.socket_readable(0, "Listeners", 100))
    j.exited(100, CLEAN, 105)  # ran 5 s
    acts = j.socket_readable(0, "Listeners", 108)  # 8 s after the spawn
    assert spawns(acts) == []
    assert IgnoreSockets() in acts  # no more readable events while throttled
    assert of(acts, SetTimer) == [SetTimer(Timer.THROTTLE, 110)]  # spawn + 10, not exit + 10
    # It ran 5 s (issue 11: the time since the spawn, 8 s, was reported as its run time).
    assert "Service only ran for 5 seconds. Pushing respawn out by 2 seconds." in messages(acts)
    assert j.socket_readable(0, "Listeners", 109) == []
    assert j.timer(Timer.THROTTLE, 110) == [Spawn("socket Listeners readable")]


def test_throttled_job_ignores_start_requests_and_stray_timers():
    j = started(now=0, KeepAlive=True)
    j.exited(100, CLEAN, 1)
    assert j.state == THROTTLED
    assert j.start(2) == []
    assert j.timer(Timer.KILL, 3) == []
    assert j.state == THROTTLED
    assert spawns(j.timer(Timer.THROTTLE, 10)) == [Spawn("KeepAlive")]
    # A throttle timer that fires when the job is no longer throttled does nothing.
    assert j.timer(Timer.THROTTLE, 11) == []


def test_fork_failure_retries_after_one_second():
    j = job(RunAtLoad=True)
    j.load(0)
    acts = j.spawn_failed(0)
    assert acts == [SetTimer(Timer.THROTTLE, 1)]
    assert j.state == THROTTLED and j.pid is None
    assert j.timer(Timer.THROTTLE, 1) == [Spawn("run at load")]


# ---------------------------------------------------------------------------
# Stopping


def test_stop_of_a_keepalive_job_sends_sigterm_then_restarts_it():
    j = started(pid=100, now=0, KeepAlive=True)
    acts = j.stop(60)
    assert acts == [Kill(100, signal.SIGTERM), SetTimer(Timer.KILL, 80)]  # ExitTimeOut defaults to 20
    assert j.state == STOPPING
    # A second stop while stopping sends nothing more.
    assert j.stop(61) == []
    acts = j.exited(100, sig(signal.SIGTERM), 61)
    assert CancelTimer(Timer.KILL) in acts
    assert spawns(acts) == [Spawn("KeepAlive")]
    assert j.state == RUNNING


def test_stop_of_an_idle_job_does_nothing():
    j = job(Sockets=LISTENERS)
    j.load(0)
    assert j.stop(1) == []
    assert j.state == WAITING and j.watching


def test_stop_of_an_on_demand_job_does_not_restart_it():
    j = started(RunAtLoad=True, Sockets=LISTENERS)
    j.stop(30)
    acts = j.exited(100, sig(signal.SIGTERM), 31)
    assert spawns(acts) == [] and WatchSockets() in acts


def test_exit_timeout_kills_with_sigkill_when_still_stopping():
    j = started(pid=100, now=0, RunAtLoad=True, ExitTimeOut=5)
    acts = j.stop(50)
    assert acts == [Kill(100, signal.SIGTERM), SetTimer(Timer.KILL, 55)]
    acts = j.timer(Timer.KILL, 55)
    assert Kill(100, signal.SIGKILL) in acts
    assert "Exit timeout elapsed (5 seconds). Killing" in messages(acts, "warning")
    acts = j.exited(100, sig(signal.SIGKILL), 55.01)
    assert CancelTimer(Timer.KILL) in acts and j.state == WAITING


def test_kill_timer_after_the_job_exited_does_nothing():
    j = started(pid=100, now=0, KeepAlive=True, ExitTimeOut=5)
    j.stop(50)
    j.exited(100, sig(signal.SIGTERM), 51)  # restarted at once (ran 50 s)
    j.spawned(101, 51)
    assert j.timer(Timer.KILL, 55) == []  # the new process is running, not stopping
    assert j.state == RUNNING


def test_kill_timer_while_running_does_nothing():
    j = started(pid=100, now=0, RunAtLoad=True)
    assert j.timer(Timer.KILL, 20) == []


def test_exit_timeout_0_sets_no_kill_timer():
    j = started(pid=100, now=0, RunAtLoad=True, ExitTimeOut=0)
    acts = j.stop(50)
    assert acts == [Kill(100, signal.SIGTERM)]
    assert of(j.unload(60), SetTimer) == []


def test_process_group_gets_sigterm_after_the_main_process_exits():
    j = started(pid=100, RunAtLoad=True)
    assert KillGroup(100, signal.SIGTERM) in j.exited(100, CLEAN, 30)


@pytest.mark.parametrize("keys", [{"AbandonProcessGroup": True},
                                  {"inetdCompatibility": {"Wait": True}, "Sockets": LISTENERS}])
def test_abandon_process_group_and_inetd_leave_the_group_alone(keys):
    j = started(pid=100, RunAtLoad=True, **keys)
    acts = j.exited(100, CLEAN, 30)
    assert of(acts, KillGroup) == []


def test_exit_is_logged():
    j = started(pid=100, RunAtLoad=True)
    assert messages(j.exited(100, ExitStatus(code=3), 2.5), "warning") == ["Exited with code: 3 after 2.5 s"]
    j = started(pid=100, RunAtLoad=True)
    (msg,) = messages(j.exited(100, sig(signal.SIGSEGV), 2.5), "warning")
    assert msg.startswith("Job appears to have crashed: SIGSEGV")
    j = started(pid=100, RunAtLoad=True)
    (msg,) = messages(j.exited(100, CLEAN, 2.5), "info")
    assert msg == "Exited with code: 0 after 2.5 s"


# ---------------------------------------------------------------------------
# Unload


def test_unload_of_a_running_job_stops_it_and_removes_it_after_exit_without_restart():
    j = started(pid=100, now=0, KeepAlive=True, Sockets=LISTENERS, StartInterval=60)
    acts = j.unload(30)
    assert Kill(100, signal.SIGTERM) in acts
    assert SetTimer(Timer.KILL, 50) in acts
    assert CancelTimer(Timer.INTERVAL) in acts and CancelTimer(Timer.THROTTLE) in acts
    assert Remove() not in acts
    assert j.removing and j.state == STOPPING
    # Nothing starts it any more.
    assert j.socket_readable(0, "Listeners", 31) == []
    assert j.timer(Timer.INTERVAL, 60) == []
    assert j.start(32) == []
    acts = j.exited(100, sig(signal.SIGTERM), 33)
    assert acts[-1] == Remove()
    assert spawns(acts) == [] and WatchSockets() not in acts
    assert KillGroup(100, signal.SIGTERM) in acts and CancelTimer(Timer.KILL) in acts


def test_unload_of_a_running_job_kills_it_after_the_exit_timeout():
    j = started(pid=100, now=0, KeepAlive=True, ExitTimeOut=3)
    j.unload(10)
    assert Kill(100, signal.SIGKILL) in j.timer(Timer.KILL, 13)
    assert j.exited(100, sig(signal.SIGKILL), 13.1)[-1] == Remove()


def test_unload_of_an_idle_job_removes_it_at_once():
    j = job(Sockets=LISTENERS)
    j.load(0)
    acts = j.unload(5)
    assert IgnoreSockets() in acts
    assert acts[-1] == Remove()
    assert of(acts, Kill) == []


def test_unload_of_an_idle_job_without_sockets_removes_it_at_once():
    j = job()
    j.load(0)
    assert j.unload(5)[-1] == Remove()


def test_unload_of_a_throttled_job_removes_it_at_once():
    j = started(now=0, KeepAlive=True)
    j.exited(100, CLEAN, 1)
    assert j.state == THROTTLED
    acts = j.unload(2)
    assert CancelTimer(Timer.THROTTLE) in acts and acts[-1] == Remove()
    assert j.timer(Timer.THROTTLE, 10) == []


def test_unload_of_a_job_that_is_already_stopping():
    j = started(pid=100, now=0, RunAtLoad=True)
    j.stop(1)
    acts = j.unload(2)
    assert of(acts, Kill) == [] and Remove() not in acts  # SIGTERM was already sent
    assert j.exited(100, sig(signal.SIGTERM), 3)[-1] == Remove()


# ---------------------------------------------------------------------------
# Reload


def test_reload_while_running_stops_then_swaps_sockets_and_loads_the_new_spec():
    j = started(pid=100, now=0, RunAtLoad=True, Sockets=LISTENERS)
    new = spec(RunAtLoad=True, Sockets={"Web": {"SockServiceName": 8081}})
    acts = j.reload(new, 30)
    assert Kill(100, signal.SIGTERM) in acts and SetTimer(Timer.KILL, 50) in acts
    assert of(acts, SwapSockets) == [] and spawns(acts) == []  # it still holds the old sockets
    assert j.spec == spec(RunAtLoad=True, Sockets=LISTENERS)  # the new spec applies after the exit
    assert j.socket_readable(0, "Listeners", 31) == []
    acts = j.exited(100, sig(signal.SIGTERM), 31)
    assert j.spec == new
    kinds = [type(a) for a in acts]
    assert SwapSockets in kinds and Spawn in kinds
    assert kinds.index(SwapSockets) < kinds.index(Spawn)
    assert spawns(acts) == [Spawn("run at load")]  # not throttled: a new definition
    assert KillGroup(100, signal.SIGTERM) in acts



def test_reload_while_running_to_an_on_demand_spec_does_not_restart():
    j = started(pid=100, now=0, KeepAlive=True, Sockets=LISTENERS)
    new = spec(Sockets=LISTENERS, EnvironmentVariables={"EDITED": "yes"})
    j.reload(new, 30)
    acts = j.exited(100, sig(signal.SIGTERM), 31)
    assert spawns(acts) == []  # neither the old KeepAlive nor the new spec starts it
    assert acts[-2:] == [SwapSockets(), WatchSockets()]
    assert j.state == WAITING and j.watching


def test_reload_uses_the_old_specs_abandon_process_group_for_the_old_process():
    j = started(pid=100, now=0, RunAtLoad=True, AbandonProcessGroup=True)
    j.reload(spec(RunAtLoad=True), 30)
    assert of(j.exited(100, sig(signal.SIGTERM), 31), KillGroup) == []


def test_reload_while_idle_swaps_sockets_and_loads_at_once():
    j = job(Sockets=LISTENERS)
    j.load(0)
    new = spec(Sockets={"Web": {"SockServiceName": 8081}}, RunAtLoad=True, StartInterval=300)
    acts = j.reload(new, 5)
    assert j.spec == new
    assert CancelTimer(Timer.INTERVAL) in acts
    assert IgnoreSockets() in acts
    kinds = [type(a) for a in acts]
    assert kinds.index(IgnoreSockets) < kinds.index(SwapSockets) < kinds.index(Spawn)
    assert SetTimer(Timer.INTERVAL, 305) in acts
    assert spawns(acts) == [Spawn("run at load")]


def test_reload_while_idle_to_an_on_demand_spec_watches_again():
    j = job(Sockets=LISTENERS)
    j.load(0)
    acts = j.reload(spec(Sockets={"Web": {"SockServiceName": 8081}}), 5)
    assert acts[-2:] == [SwapSockets(), WatchSockets()]
    assert j.watching


def test_reload_of_a_throttled_job_starts_it_without_waiting():
    j = started(now=0, KeepAlive=True)
    j.exited(100, CLEAN, 1)
    assert j.state == THROTTLED
    acts = j.reload(spec(KeepAlive=True, ThrottleInterval=5), 2)
    assert CancelTimer(Timer.THROTTLE) in acts
    assert spawns(acts) == [Spawn("run at load")]


def test_reload_with_an_identical_spec_does_nothing():
    j = started(RunAtLoad=True, Sockets=LISTENERS)
    assert j.reload(spec(RunAtLoad=True, Sockets=LISTENERS), 5) == []
    assert j.state == RUNNING


def test_reload_clears_launch_only_once():
    j = started(pid=100, RunAtLoad=True, LaunchOnlyOnce=True)
    j.exited(100, CLEAN, 5)
    assert j.finished
    acts = j.reload(spec(RunAtLoad=True, LaunchOnlyOnce=True, EnvironmentVariables={"A": "b"}), 6)
    assert spawns(acts) == [Spawn("run at load")]


# ---------------------------------------------------------------------------
# inetdCompatibility


def test_inetd_wait_false_accepts_and_spawns_one_instance_per_connection():
    j = job(inetdCompatibility={"Wait": False}, Sockets=LISTENERS, RunAtLoad=True)
    assert j.load(0) == [WatchSockets()]  # per-connection jobs never run at load
    assert j.socket_readable(0, "Listeners", 1) == [AcceptAndSpawn(0)]
    assert j.instance_spawned(11, 1) == []
    # Instances are not throttled: a second client at once gets its own instance.
    assert j.socket_readable(0, "Listeners", 1.1) == [AcceptAndSpawn(0)]
    assert j.instance_spawned(12, 1.1) == []
    assert j.socket_readable(0, "Listeners", 1.2) == [AcceptAndSpawn(0)]
    assert j.instance_spawned(13, 1.2) == []
    assert set(j.instances) == {11, 12, 13} and j.runs == 3
    assert j.state == WAITING and j.watching and j.pid is None
    acts = j.exited(12, CLEAN, 2)
    assert acts == [CancelTimer(InstanceKill(12))]  # no restart, no process-group kill
    assert set(j.instances) == {11, 13} and j.last_exit == CLEAN
    assert j.exited(11, FAILED, 3) == [CancelTimer(InstanceKill(11))]
    assert set(j.instances) == {13} and j.last_exit == FAILED


def test_inetd_wait_false_start_request_explains_itself():
    j = job(inetdCompatibility={"Wait": False}, Sockets=LISTENERS)
    j.load(0)
    acts = j.start(1)
    assert spawns(acts) == [] and of(acts, AcceptAndSpawn) == []
    assert messages(acts, "info")


def test_inetd_wait_false_unload_waits_for_every_instance():
    j = job(inetdCompatibility={"Wait": False}, Sockets=LISTENERS, ExitTimeOut=5)
    j.load(0)
    for pid in (11, 12):
        j.socket_readable(0, "Listeners", 1)
        j.instance_spawned(pid, 1)
    acts = j.unload(10)
    assert IgnoreSockets() in acts
    assert Kill(11, signal.SIGTERM) in acts and Kill(12, signal.SIGTERM) in acts
    assert SetTimer(InstanceKill(11), 15) in acts and SetTimer(InstanceKill(12), 15) in acts
    assert Remove() not in acts
    assert j.socket_readable(0, "Listeners", 11) == []
    acts = j.exited(11, sig(signal.SIGTERM), 11)
    assert CancelTimer(InstanceKill(11)) in acts and Remove() not in acts and WatchSockets() not in acts
    assert j.timer(InstanceKill(12), 15) == [Kill(12, signal.SIGKILL)]
    assert j.timer(InstanceKill(11), 15) == []  # gone already
    acts = j.exited(12, sig(signal.SIGKILL), 15.1)
    assert acts[-1] == Remove()


def test_inetd_wait_false_stop_terminates_the_instances():
    j = job(inetdCompatibility={"Wait": False}, Sockets=LISTENERS, ExitTimeOut=0)
    j.load(0)
    j.socket_readable(0, "Listeners", 1)
    j.instance_spawned(11, 1)
    assert j.stop(2) == [Kill(11, signal.SIGTERM)]
    assert j.exited(11, sig(signal.SIGTERM), 3) == [CancelTimer(InstanceKill(11))]
    assert j.watching  # still serving new connections


def test_inetd_wait_false_stops_accepting_at_max_instances():
    j = job(inetdCompatibility={"Wait": False}, Sockets=LISTENERS)
    j.load(0)
    for pid in range(1000, 1000 + MAX_INSTANCES - 1):
        j.socket_readable(0, "Listeners", 1)
        assert j.instance_spawned(pid, 1) == []
    acts = j.instance_spawned(5000, 1)
    assert IgnoreSockets() in acts and messages(acts, "warning")
    assert not j.watching
    assert j.socket_readable(0, "Listeners", 2) == []
    acts = j.exited(5000, CLEAN, 3)
    assert WatchSockets() in acts and j.watching
    assert j.socket_readable(0, "Listeners", 4) == [AcceptAndSpawn(0)]


def test_inetd_wait_false_reload_applies_the_new_spec_after_the_last_instance_exits():
    j = job(inetdCompatibility={"Wait": False}, Sockets=LISTENERS)
    j.load(0)
    for pid in (11, 12):
        j.socket_readable(0, "Listeners", 1)
        j.instance_spawned(pid, 1)
    new = spec(inetdCompatibility={"Wait": False}, Sockets={"Web": {"SockServiceName": 8081}})
    acts = j.reload(new, 5)
    assert IgnoreSockets() in acts
    assert Kill(11, signal.SIGTERM) in acts and Kill(12, signal.SIGTERM) in acts
    acts = j.exited(11, sig(signal.SIGTERM), 6)
    assert WatchSockets() not in acts and SwapSockets() not in acts  # one instance still runs
    assert not j.watching
    acts = j.exited(12, sig(signal.SIGTERM), 7)
    assert j.spec == new
    assert acts[-2:] == [SwapSockets(), WatchSockets()]
    assert j.socket_readable(0, "Web", 8) == [AcceptAndSpawn(0)]


def test_inetd_wait_true_spawns_with_the_readable_socket_on_stdio():
    j = job(inetdCompatibility={"Wait": True}, Sockets=TWO_GROUPS)
    assert j.load(0) == [WatchSockets()]
    acts = j.socket_readable(1, "b", 1)
    assert acts == [IgnoreSockets(), Spawn("socket b readable", stdio_socket=1)]
    running(j, 100, 1, acts)
    acts = j.exited(100, CLEAN, 20)
    assert WatchSockets() in acts
    assert j.socket_readable(0, "a", 21) == [IgnoreSockets(), Spawn("socket a readable", stdio_socket=0)]


def test_inetd_wait_true_run_at_load_gets_the_first_socket_on_stdio():
    j = job(inetdCompatibility={"Wait": True}, Sockets=TWO_GROUPS, RunAtLoad=True)
    assert j.load(0) == [Spawn("run at load", stdio_socket=0)]


# ---------------------------------------------------------------------------
# Start requests and StartInterval


def test_start_of_an_idle_job_spawns_it():
    j = job(Sockets=LISTENERS)
    j.load(0)
    assert j.start(1) == [IgnoreSockets(), Spawn("start by user")]  # issue 11: it was "kickstart by user"


def test_start_while_running_is_a_no_op_and_leaves_no_pending_start():
    j = started(pid=100, now=0, RunAtLoad=True, Sockets=LISTENERS)
    assert j.start(5) == []
    acts = j.exited(100, CLEAN, 30)
    assert spawns(acts) == [] and WatchSockets() in acts


def test_start_interval_timer_is_armed_at_load_and_fires_a_start():
    j = job(StartInterval=60)
    acts = j.load(0)
    assert acts == [SetTimer(Timer.INTERVAL, 60)]  # first firing one interval after load
    acts = j.timer(Timer.INTERVAL, 60)
    assert acts == [SetTimer(Timer.INTERVAL, 120), Spawn("StartInterval")]


def test_start_interval_firing_while_running_leaves_one_pending_start():
    j = job(StartInterval=60)
    j.load(0)
    running(j, 100, 60, j.timer(Timer.INTERVAL, 60))
    assert j.timer(Timer.INTERVAL, 120) == [SetTimer(Timer.INTERVAL, 180)]
    assert j.timer(Timer.INTERVAL, 180) == [SetTimer(Timer.INTERVAL, 240)]  # merged into the same pending start
    acts = j.exited(100, CLEAN, 200)
    assert spawns(acts) == [Spawn("StartInterval")]
    running(j, 101, 200, acts)
    acts = j.exited(101, CLEAN, 230)
    assert spawns(acts) == []  # only one start was pending
    assert j.state == WAITING


def test_pending_start_is_throttled():
    j = job(StartInterval=1)
    j.load(0)
    running(j, 100, 1, j.timer(Timer.INTERVAL, 1))
    j.timer(Timer.INTERVAL, 2)
    acts = j.exited(100, CLEAN, 3)
    assert spawns(acts) == [] and of(acts, SetTimer) == [SetTimer(Timer.THROTTLE, 11)]
    assert j.timer(Timer.THROTTLE, 11) == [Spawn("StartInterval")]


def test_start_interval_stops_after_unload():
    j = job(StartInterval=60)
    j.load(0)
    acts = j.unload(10)
    assert CancelTimer(Timer.INTERVAL) in acts and acts[-1] == Remove()
    assert j.timer(Timer.INTERVAL, 60) == []


# ---------------------------------------------------------------------------
# LaunchOnlyOnce


def test_launch_only_once_never_runs_again():
    j = job(RunAtLoad=True, LaunchOnlyOnce=True, KeepAlive=True, Sockets=LISTENERS, StartInterval=60)
    running(j, 100, 0, j.load(0))
    acts = j.exited(100, CLEAN, 30)
    assert "Exited. Was only configured to run once." in messages(acts)
    assert spawns(acts) == [] and WatchSockets() not in acts  # not even KeepAlive restarts it
    assert j.finished and not j.watching
    assert spawns(j.timer(Timer.INTERVAL, 60)) == []
    assert j.socket_readable(0, "Listeners", 61) == []


def test_launch_only_once_is_not_lifted_by_start_or_kickstart():
    """Issue 11: as launchd, a job that ran once does not run again in the
    manager's life; start and kickstart used to lift it."""
    j = job(RunAtLoad=True, LaunchOnlyOnce=True)
    running(j, 100, 0, j.load(0))
    j.exited(100, CLEAN, 30)
    for acts in (j.start(40), j.kickstart(41), j.kickstart(42, kill=True), j.trigger("WatchPaths /x", 43)):
        assert spawns(acts) == [] and j.finished and j.state == WAITING
    assert any("does not run again" in m for m in messages(j.start(44)))


# ---------------------------------------------------------------------------
# Exit statuses


def test_exit_status_list_value():
    assert ExitStatus(code=0).list_value == 0
    assert ExitStatus(code=78).list_value == 78
    assert ExitStatus(signal=signal.SIGKILL).list_value == -9
    assert ExitStatus(signal=signal.SIGTERM).list_value == -15


def test_exit_status_from_wait_status():
    assert ExitStatus.from_wait_status(3 << 8) == ExitStatus(code=3)
    assert ExitStatus.from_wait_status(0) == ExitStatus(code=0)
    status = signal.SIGSEGV | 0x80  # core dumped
    assert os.WIFSIGNALED(status)
    e = ExitStatus.from_wait_status(status)
    assert e == ExitStatus(signal=signal.SIGSEGV) and e.crashed and not e.clean
    assert e.list_value == -signal.SIGSEGV


def test_exit_status_clean_and_crashed():
    assert CLEAN.clean and not CLEAN.crashed
    assert not FAILED.clean and not FAILED.crashed
    assert not sig(signal.SIGTERM).clean and not sig(signal.SIGTERM).crashed
    assert sig(signal.SIGABRT).crashed


def test_exit_status_describe():
    assert ExitStatus(code=2).describe() == "exit code 2"
    assert ExitStatus(signal=signal.SIGTERM).describe().startswith("SIGTERM")


def test_reloading_an_unchanged_definition_leaves_a_throttled_job_throttled():
    """Found by the corpus (docs/corpus.md): `load -F` of the plist a
    throttled KeepAlive job was loaded from raised IllegalTransition
    ("reload took throttled to throttled") and pylaunchctl said "internal error"."""
    j = started(pid=100, now=100.0, KeepAlive=True)
    j.exited(100, FAILED, 101.0)
    assert j.state == THROTTLED
    assert j.reload(spec(KeepAlive=True), 102.0) == []
    assert j.state == THROTTLED and j.throttled_until == 110.0

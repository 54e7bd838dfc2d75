"""The job state machine's transition table, walked exhaustively.

Every event, in every phase (and with every kind of wanted state: as its keys
say, a restart, a pending reload, LaunchOnlyOnce done, unloading), is applied
to a machine; each event checks the phase it leaves against
``pylaunchd.job.TRANSITIONS`` and raises IllegalTransition outside it. The
table itself must name every (event, phase) pair, and REMOVED is final.
"""

from __future__ import annotations

import itertools

import pytest

from pylaunchd.job import TRANSITIONS, JobMachine
from pylaunchd.jobtypes import ExitStatus, Fact, InstanceKill, Phase, Timer, Want
from pylaunchd.spec import validate

LISTENERS = {"Listeners": {"SockNodeName": "127.0.0.1", "SockServiceName": 8080}}
KINDS = {
    "on-demand": dict(Sockets=LISTENERS),
    "keepalive": dict(KeepAlive=True),
    "run-at-load": dict(RunAtLoad=True, Sockets=LISTENERS),
    "inetd-nowait": dict(Sockets=LISTENERS, inetdCompatibility={"Wait": False}),
    "inetd-wait": dict(Sockets=LISTENERS, inetdCompatibility={"Wait": True}),
    "once": dict(RunAtLoad=True, LaunchOnlyOnce=True),
    "interval": dict(StartInterval=60, KeepAlive={"PathState": {"/nonexistent/x": True}}),
}


def spec(kind: str, **more):
    return validate({"Label": "t.job", "ProgramArguments": ["/bin/true"], **KINDS[kind], **more}, "/j/t.plist")


def scenarios():
    """(name, machine) pairs covering every phase and wanted state."""
    def fresh(kind):
        m = JobMachine(spec(kind))
        m.load(0)
        if m.phase is Phase.RUNNING:
            m.spawned(100, 0)
        return m

    for kind in KINDS:
        m = fresh(kind)
        yield f"{kind}: loaded", m
        m = fresh(kind)
        if m.spec.inetd_nowait:
            m.socket_readable(0, "Listeners", 1)
            m.instance_spawned(200, 1)
            yield f"{kind}: with an instance", m
            m = fresh(kind)
            m.instance_spawned(200, 1)
            m.reload(spec(kind, ExitTimeOut=3), 2)
            yield f"{kind}: reload waiting for an instance", m
            continue
        m.kickstart(1)
        if m.pid is None and m.phase is Phase.RUNNING:
            m.spawned(101, 1)
        yield f"{kind}: kickstarted", m
        if m.phase is Phase.RUNNING:
            for what in ("stop", "unload", "reload", "restart"):
                m = fresh(kind)
                m.kickstart(1)
                if m.pid is None:
                    m.spawned(101, 1)
                if what == "stop":
                    m.stop(2)
                elif what == "unload":
                    m.unload(2)
                elif what == "reload":
                    m.reload(spec(kind, ExitTimeOut=3), 2)
                else:
                    m.trigger("again", 2)
                yield f"{kind}: running, then {what}", m
            m = fresh(kind)
            m.kickstart(1)
            if m.pid is None:
                m.spawned(101, 1)
            m.exited(m.pid, ExitStatus(code=0), 1.5)
            yield f"{kind}: after a quick exit", m
        m = fresh(kind)
        m.unload(3)
        yield f"{kind}: unloaded", m


EVENTS = {
    "load": lambda m: m.load(10),
    "trigger": lambda m: m.trigger("WatchPaths /x", 10),
    "condition": lambda m: m.condition(Fact.path("/nonexistent/x"), True, 10),
    "socket_readable": lambda m: m.socket_readable(0, "Listeners", 10),
    "bus_name_requested": lambda m: m.bus_name_requested("org.example.Name", 10),
    "start": lambda m: m.start(10),
    "spawned": lambda m: m.spawned(m.pid or 300, 10),
    "spawn_failed": lambda m: m.spawn_failed(10) if m.phase is Phase.RUNNING else [],
    "instance_spawned": lambda m: m.instance_spawned(301, 10) if m.spec.inetd_nowait else [],
    "exited": lambda m: m.exited(m.pid or (min(m.instances) if m.instances else 999), ExitStatus(code=1), 10),
    "timer": None,  # every key, below
    "kickstart": lambda m: m.kickstart(10, kill=True),
    "signal": lambda m: m.signal(15),
    "stop": lambda m: m.stop(10),
    "unload": lambda m: m.unload(10),
    "reload": lambda m: m.reload(spec("keepalive", ExitTimeOut=7), 10),
    "observe": lambda m: m.observe({Fact.path("/x"): True}, replace=True),
    "adopted": lambda m: m.adopted(400, 5, 10),
    "main_moved": lambda m: m.main_moved(401),
}
TIMERS = [Timer.THROTTLE, Timer.KILL, Timer.INTERVAL, InstanceKill(200), InstanceKill(999)]


def test_the_table_names_every_event_in_every_phase():
    assert set(TRANSITIONS) == set(EVENTS)
    for event, by_phase in TRANSITIONS.items():
        assert set(by_phase) == set(Phase), event
        assert all(by_phase[p] for p in Phase), f"{event}: a phase with no way out"
        assert by_phase[Phase.REMOVED] == {Phase.REMOVED}, f"{event}: REMOVED must be final"


def test_scenarios_reach_every_phase_and_every_want():
    seen = {(m.phase, m.want) for _, m in scenarios()}
    assert {p for p, _ in seen} == set(Phase)
    assert {w for _, w in seen} == set(Want)


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_in_every_scenario_stays_in_the_table(event):
    names = [name for name, _ in scenarios()]
    for index, name in enumerate(names):
        for key in (TIMERS if event == "timer" else [None]):
            m = dict(itertools.islice(scenarios(), index, index + 1))[name]  # a fresh copy
            before = m.phase
            if key is None:
                EVENTS[event](m)
            else:
                m.timer(key, 10)
            assert m.phase in TRANSITIONS[event][before], (event, name, key)

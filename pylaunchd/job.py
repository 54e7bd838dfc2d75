"""The job state machine: events in, actions out, no side effects.

A :class:`JobMachine` is told what happened (loaded, socket readable,
spawned, exited, timer fired, a fact changed, start/stop/unload/reload asked
for) together with the current monotonic time, and answers with a list of
actions (:mod:`pylaunchd.jobtypes`) for the job's runtime to carry out in
order: spawn, signal, watch or ignore the sockets, set or cancel a timer,
log, remove. Because it never touches a process, a socket or a clock,
KeepAlive, throttling and exit timeouts are tested with plain numbers.

Its state is two values, :class:`Phase` (what it is doing) and
:class:`Want` (what is wanted of it), plus counters and history (runs, last
exit, last spawn, whether it was ever demanded). :data:`TRANSITIONS` is the
table of the phases each event may lead to from each phase; every event
checks itself against it, and ``tests/test_job_table.py`` walks every pair.

Size: one state machine is one class; its seventeen events share the private
helpers below them (want a start, spawn, terminate, watch), and read best
beside them; its snapshot for a re-exec names every field, so it sits beside them. KeepAlive's reasons are apart, in :mod:`pylaunchd.keepalive`.
"""

from __future__ import annotations

import functools
import math
import signal
from dataclasses import dataclass, field
from typing import Mapping

from .jobtypes import (CRASH_SIGNALS, AcceptAndSpawn, Action, CancelTimer, ExitStatus,
                       Fact, FactKind, IgnoreSockets, InstanceKill, Kill, KillGroup, Log, Phase, Remove, SetTimer, Spawn,
                       SwapSockets, Timer, TimerKey, WatchSockets, Want)
from . import keepalive
from .spec import JobSpec

__all__ = [
    "JobMachine", "TRANSITIONS", "IllegalTransition", "MAX_INSTANCES",
    "WAITING", "THROTTLED", "RUNNING", "STOPPING", "REMOVED",
    # the vocabulary, re-exported for the machine's users
    "Phase", "Want", "Timer", "InstanceKill", "Fact", "ExitStatus", "CRASH_SIGNALS",
    "Spawn", "AcceptAndSpawn", "Kill", "KillGroup", "WatchSockets", "IgnoreSockets", "SwapSockets",
    "SetTimer", "CancelTimer", "Log", "Remove", "Action",
]

WAITING, THROTTLED, RUNNING, STOPPING, REMOVED = (Phase.WAITING, Phase.THROTTLED, Phase.RUNNING,
                                                  Phase.STOPPING, Phase.REMOVED)

# Per-connection instances (inetdCompatibility Wait false) running at once;
# past it the job stops accepting and connections wait in the kernel queue.
MAX_INSTANCES = 128
CRASH_LOOP = 5  # failures in a row, each soon after its start, before the manager says so (then at 8, 16, ...)
# launchd's LaunchOnlyOnce: once run, never again in this manager's life
# (a changed plist is a new definition, and loads afresh).
ONCE_RAN = "LaunchOnlyOnce: it has run once and does not run again (unload and load it to run it again)"

_ALL = frozenset(Phase)
_SAME = {p: frozenset({p}) for p in Phase}
_START = frozenset({WAITING, RUNNING, THROTTLED})  # a start may be due: it runs, waits out its throttle, or not


def _same_except(**changes: frozenset[Phase]) -> dict[Phase, frozenset[Phase]]:
    table = dict(_SAME)
    table.update({Phase(k.lower()): v for k, v in changes.items()})
    return table


# event -> phase before -> the phases it may leave the job in. A pair that
# maps to the phase alone is an event that changes no phase there.
TRANSITIONS: dict[str, dict[Phase, frozenset[Phase]]] = {
    # loaded (or a new definition applied): start at once by its keys, or wait
    "load": _same_except(WAITING=frozenset({WAITING, RUNNING})),
    # WatchPaths, StartCalendarInterval, StartOnMount; StartInterval, a fact, a
    # client and `start` likewise start only a waiting job
    "trigger": _same_except(WAITING=_START),
    "condition": _same_except(WAITING=_START),
    "socket_readable": _same_except(WAITING=_START),
    "bus_name_requested": _same_except(WAITING=_START),
    "start": _same_except(WAITING=_START),
    "spawned": _same_except(),
    "spawn_failed": _same_except(RUNNING=frozenset({THROTTLED})),
    "instance_spawned": _same_except(),
    # the main process exited: KeepAlive may start it again (at once or after
    # its throttle), a new definition may apply, an unloaded job goes; an
    # instance's exit may complete a reload or an unload
    "exited": _same_except(WAITING=frozenset({WAITING, RUNNING, REMOVED}),
                           RUNNING=_ALL - {STOPPING}, STOPPING=_ALL - {STOPPING}),
    "timer": _same_except(WAITING=_START, THROTTLED=frozenset({THROTTLED, RUNNING})),
    "kickstart": _same_except(WAITING=frozenset({WAITING, RUNNING}), THROTTLED=frozenset({THROTTLED, RUNNING}),
                              RUNNING=frozenset({RUNNING, STOPPING})),
    "signal": _same_except(),
    "stop": _same_except(RUNNING=frozenset({RUNNING, STOPPING})),
    "unload": _same_except(WAITING=frozenset({WAITING, REMOVED}), THROTTLED=frozenset({REMOVED}),
                           RUNNING=frozenset({STOPPING})),
    # (a definition equal to the loaded one changes nothing: a throttled job stays so)
    "reload": _same_except(WAITING=frozenset({WAITING, RUNNING}), THROTTLED=frozenset({THROTTLED, WAITING, RUNNING}),
                           RUNNING=frozenset({RUNNING, STOPPING})),
    "observe": _same_except(),
    # a process that runs already became the main process (boot, a re-exec)
    "adopted": _same_except(WAITING=frozenset({WAITING, RUNNING})),
    # MAINPID=: another process of the running job is its main process now
    "main_moved": _same_except(),
}


class IllegalTransition(AssertionError):
    """An event left the machine in a phase :data:`TRANSITIONS` does not allow: a bug."""


def _event(fn):
    """Check the phase an event leaves against :data:`TRANSITIONS`."""
    allowed = TRANSITIONS[fn.__name__]

    @functools.wraps(fn)
    def run(self: "JobMachine", *args, **kwargs) -> list[Action]:
        before = self.phase
        acts = fn(self, *args, **kwargs)
        if self.phase not in allowed[before]:
            raise IllegalTransition(f"{self.label}: {fn.__name__} took {before} to {self.phase}")
        return acts
    return run


@dataclass
class JobMachine:
    spec: JobSpec
    phase: Phase = WAITING
    want: Want = Want.KEYS
    pid: int | None = None
    runs: int = 0
    last_exit: ExitStatus | None = None
    last_spawn: float | None = None
    last_ran: float | None = None  # how long the last main process ran
    quick_failures: int = 0  # failed exits in a row, each within ThrottleInterval of its start
    last_trigger: str | None = None
    throttled_until: float | None = None
    # Whether the last socket action given was WatchSockets (a mirror of what
    # the runtime does, so that each of Watch/Ignore is given once).
    watching: bool = False
    instances: dict[int, float] = field(default_factory=dict)  # pid -> spawn time
    # The facts KeepAlive conditions and QueueDirectories read, as last told.
    conditions: dict[Fact, bool] = field(default_factory=dict)
    demanded: bool = False  # started on demand at least once (AfterInitialDemand)
    # With Want.RESTART: why, and whether the start skips the throttle (kickstart -k).
    _restart: tuple[str, bool] = ("", False)
    _pending_spec: JobSpec | None = None  # with Want.RESPEC
    _held: tuple[str, int | None] = ("", None)  # THROTTLED: the start held back (reason, stdio socket)
    _last_stdio: int | None = None

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def state(self) -> Phase:
        """The phase, under the name the control protocol has always used."""
        return self.phase

    @property
    def removing(self) -> bool:
        return self.want is Want.GONE

    @property
    def finished(self) -> bool:
        return self.want is Want.DONE

    @property
    def max_instances(self) -> int:
        inetd = self.spec.inetd
        return inetd.instances if inetd is not None and inetd.instances else MAX_INSTANCES

    # -- events -------------------------------------------------------------

    @_event
    def load(self, now: float) -> list[Action]:
        """The job was loaded (or a new definition applied): start it if its keys say so."""
        return self._load(now)

    @_event
    def trigger(self, reason: str, now: float) -> list[Action]:
        """A launch event: WatchPaths, StartCalendarInterval, StartOnMount."""
        if self.spec.inetd_nowait or self.removing:
            return []
        self.demanded = True
        return self._want_start(reason, now)

    @_event
    def condition(self, fact: Fact, value: bool, now: float) -> list[Action]:
        """A fact a KeepAlive condition or QueueDirectories depends on changed.
        launchd starts the job as soon as a condition becomes true."""
        old = self.conditions.get(fact)
        self.conditions[fact] = value
        if value == old or self.phase is not WAITING or self.removing or self.spec.inetd_nowait:
            return []
        reason = keepalive.condition_reason(self.spec, self.demanded, self.conditions)
        return self._want_start(reason, now) if reason is not None else []

    @_event
    def observe(self, facts: Mapping[Fact, bool], replace: bool = False) -> list[Action]:
        """The facts as they are now, without acting on them: before a
        decision (an exit), or all of them at (re)load (*replace*)."""
        if replace:
            self.conditions.clear()
        self.conditions.update(facts)
        return []

    @_event
    def socket_readable(self, index: int, name: str, now: float) -> list[Action]:
        """A watched socket has a client (a connection or a datagram)."""
        if not self.watching or self.removing:
            return []
        if self.spec.inetd_nowait:
            if len(self.instances) >= self.max_instances:
                return self._ignore()
            return [AcceptAndSpawn(index)]
        stdio = index if self.spec.inetd is not None else None
        self.demanded = True
        return self._want_start(f"socket {name} readable", now, stdio)

    @_event
    def bus_name_requested(self, name: str, now: float) -> list[Action]:
        """A caller waits on one of the job's MachServices names, which nobody
        owns (dbus-daemon's ActivationRequest). Started as a socket's client
        starts it; a process that runs already is left to take the name."""
        if self.removing or self.spec.inetd_nowait or self.phase is not WAITING:
            return []
        self.demanded = True
        return self._want_start(f"D-Bus name {name}", now)

    @_event
    def spawned(self, pid: int, now: float) -> list[Action]:
        self.pid = pid
        return []

    @_event
    def spawn_failed(self, now: float) -> list[Action]:
        """fork() failed: nothing runs. Try again in a second, as launchd does."""
        self.phase = THROTTLED
        self.pid = None
        self.throttled_until = now + 1
        self._held = (self.last_trigger or "retry after fork failure", self._last_stdio)
        return [SetTimer(Timer.THROTTLE, self.throttled_until)]

    @_event
    def instance_spawned(self, pid: int, now: float, reason: str = "connection accepted") -> list[Action]:
        self.instances[pid] = now
        self.runs += 1
        self.last_spawn = now
        self.last_trigger = reason
        if len(self.instances) >= self.max_instances:
            return [Log("warning", f"{self.max_instances} instances running; new connections wait in the queue")] + self._ignore()
        return []

    @_event
    def exited(self, pid: int, exit: ExitStatus, now: float) -> list[Action]:
        """A process of this job was reaped."""
        if pid in self.instances:
            return self._instance_exited(pid, exit, now)
        if pid != self.pid:
            return []
        ran = now - self.last_spawn if self.last_spawn is not None else 0.0
        stopped_by_us = self.phase is STOPPING
        self.pid = None
        self.last_exit = exit
        self.phase = WAITING
        acts: list[Action] = [CancelTimer(Timer.KILL), keepalive.exit_log(exit, ran)] + self._crash_loop(exit, ran)
        if not self.spec.abandon_process_group:
            acts.append(KillGroup(pid, signal.SIGTERM))
        if self.want is Want.GONE:
            return acts + self._maybe_removed()
        if self.want is Want.RESPEC:
            return acts + self._apply_pending_spec(now)
        if self.spec.launch_only_once:
            self.want = Want.DONE
            return acts + [Log("info", "Exited. Was only configured to run once.")]
        reason = keepalive.reason_after_exit(self.spec, exit, stopped_by_us, self.demanded, self.conditions)
        force = False
        if self.want is Want.RESTART:
            restart_reason, force = self._restart
            if reason is None or force:
                reason = restart_reason
            self.want, self._restart = Want.KEYS, ("", False)
        if reason is not None:
            return acts + self._want_start(reason, now, force=force)
        return acts + self._watch()

    @_event
    def timer(self, name: TimerKey, now: float) -> list[Action]:
        if name is Timer.THROTTLE and self.phase is THROTTLED:
            self.phase = WAITING
            self.throttled_until = None
            reason, stdio = self._held
            return self._spawn(reason, now, stdio)
        if name is Timer.KILL and self.phase is STOPPING and self.pid is not None:
            acts: list[Action] = [Log("warning", f"Exit timeout elapsed ({self.spec.exit_timeout} seconds). Killing"),
                                  Kill(self.pid, signal.SIGKILL)]
            if not self.spec.abandon_process_group:  # and what it started, in its process group
                acts.append(KillGroup(self.pid, signal.SIGKILL))
            return acts
        if isinstance(name, InstanceKill) and name.pid in self.instances:
            return [Kill(name.pid, signal.SIGKILL)]
        if name is Timer.INTERVAL and not self.removing and self.spec.start_interval and not self.spec.inetd_nowait:
            return [SetTimer(Timer.INTERVAL, now + self.spec.start_interval)] + self._want_start("StartInterval", now)
        return []

    @_event
    def start(self, now: float) -> list[Action]:
        """``pylaunchctl start``: run it now if it is not running (throttle applies)."""
        if self.removing or self.phase is not WAITING:
            return []
        if self.spec.inetd_nowait:
            return [Log("info", "per-connection (inetd Wait false) job: it starts on each connection")]
        if self.finished:
            return [Log("info", ONCE_RAN)]
        self.demanded = True
        return self._want_start("start by user", now)

    @_event
    def kickstart(self, now: float, kill: bool = False) -> list[Action]:
        """``pylaunchctl kickstart``: run it now, whatever its launch
        conditions and its throttle. With ``kill``, a running instance is
        stopped first and the job started again as soon as it has exited."""
        if self.removing or self.phase is REMOVED:
            return []
        if self.spec.inetd_nowait:
            return [Log("info", "per-connection (inetd Wait false) job: it starts on each connection")]
        if self.finished:
            return [Log("info", ONCE_RAN)]
        self.demanded = True
        if self.phase in (RUNNING, STOPPING):
            if not kill:
                return []
            if self.want is not Want.RESPEC:
                self.want, self._restart = Want.RESTART, ("kickstart -k by user", True)
            return self._terminate(now) if self.phase is RUNNING else []
        acts: list[Action] = []
        if self.phase is THROTTLED:
            acts.append(CancelTimer(Timer.THROTTLE))
            self.phase = WAITING
            self.throttled_until = None
        return acts + self._spawn("kickstart by user", now, None)

    @_event
    def signal(self, sig: int) -> list[Action]:
        """``pylaunchctl kill``: send *sig* to what runs. KeepAlive still
        decides what happens after it exits, as in launchd."""
        pids = ([self.pid] if self.pid is not None else []) + sorted(self.instances)
        return [Kill(pid, sig) for pid in pids]

    @_event
    def stop(self, now: float) -> list[Action]:
        """``pylaunchctl stop``: SIGTERM the running instance(s). KeepAlive may restart it."""
        acts: list[Action] = []
        for pid in list(self.instances):
            acts += self._terminate_instance(pid, now)
        if self.phase is RUNNING and self.pid is not None:
            acts += self._terminate(now)
        return acts

    @_event
    def unload(self, now: float) -> list[Action]:
        """Stop everything for good and, once nothing runs, remove the job."""
        if self.phase is REMOVED:
            return []
        self.want = Want.GONE
        self._pending_spec = None
        acts: list[Action] = [CancelTimer(Timer.INTERVAL), CancelTimer(Timer.THROTTLE)] + self._ignore()
        if self.phase is THROTTLED:
            self.phase = WAITING
            self.throttled_until = None
        for pid in list(self.instances):
            acts += self._terminate_instance(pid, now)
        if self.phase is RUNNING and self.pid is not None:
            acts += self._terminate(now)
        return acts + self._maybe_removed()

    @_event
    def reload(self, spec: JobSpec, now: float) -> list[Action]:
        """The plist changed. A running job is stopped and started again by the
        new definition; a definition equal to the loaded one (the plist moved,
        or only its warnings differ) is taken as it is."""
        if self.phase is REMOVED or self.removing:
            return []
        if spec == self.spec and self.want is not Want.RESPEC:
            self.spec = spec  # same job; its path or warnings may differ
            return []
        acts: list[Action] = [CancelTimer(Timer.INTERVAL), CancelTimer(Timer.THROTTLE)]
        if self.phase in (RUNNING, STOPPING) or self.instances:
            self._pending_spec, self.want = spec, Want.RESPEC
            acts += self._ignore()
            if self.phase is RUNNING:
                acts += self._terminate(now)
            for pid in list(self.instances):
                acts += self._terminate_instance(pid, now)
            return acts
        self.spec = spec
        self.phase = WAITING
        self.throttled_until = None
        self.last_spawn = None
        self.want, self._restart = Want.KEYS, ("", False)
        return acts + self._ignore() + [SwapSockets()] + self._load(now)

    @_event
    def adopted(self, pid: int, started: float, now: float, reason: str = "adopted") -> list[Action]:
        """*pid*, a child that runs already (started before the manager knew
        of it, at *started*), is the main process now, as if spawned then.
        Only a waiting job takes one; StartInterval's timer starts anew."""
        if self.phase is not WAITING or self.removing:
            return []
        self.phase, self.pid, self.last_spawn, self.last_trigger = RUNNING, pid, started, reason
        self.runs += 1
        acts: list[Action] = self._ignore()
        if self.spec.start_interval:
            acts.append(SetTimer(Timer.INTERVAL, now + self.spec.start_interval))
        return acts

    @_event
    def main_moved(self, pid: int) -> list[Action]:
        """*pid*, a process the running job started (checked by the caller), is
        its main process from now on, as systemd's ``MAINPID=``: the old one's
        exit is no longer the job's (no KeepAlive, no kill of its group), the
        new one's is; a stop signals it. Only while running, not for inetd
        instances."""
        if self.phase is not RUNNING or self.pid is None or pid == self.pid or self.spec.inetd_nowait:
            return []
        old, self.pid = self.pid, pid
        return [Log("info", f"main process is now pid {pid} (MAINPID= from the job; it was pid {old})")]

    # -- a re-exec ----------------------------------------------------------

    def snapshot(self) -> dict:
        """Everything but the spec, JSON-able, for a re-exec (:mod:`pylaunchd.reexec`)."""
        last = self.last_exit
        return {"phase": self.phase.value, "want": self.want.value, "pid": self.pid, "runs": self.runs,
                "last_exit": None if last is None else [last.code, last.signal], "last_spawn": self.last_spawn,
                "last_ran": self.last_ran, "quick_failures": self.quick_failures, "last_trigger": self.last_trigger,
                "throttled_until": self.throttled_until, "watching": self.watching,
                "instances": [[pid, t] for pid, t in self.instances.items()],
                "conditions": [[f.kind.value, f.subject, v] for f, v in self.conditions.items()],
                "demanded": self.demanded, "restart": list(self._restart), "held": list(self._held),
                "last_stdio": self._last_stdio}

    @classmethod
    def restored(cls, spec: JobSpec, data: Mapping) -> "JobMachine":
        """The machine *data* (a :meth:`snapshot`) describes, with *spec*, read
        again, as its definition; a reload that was pending applies *spec*.
        Raises KeyError, ValueError or TypeError on a snapshot it cannot use."""
        last = data["last_exit"]
        m = cls(spec, phase=Phase(data["phase"]), want=Want(data["want"]), pid=data["pid"], runs=int(data["runs"]),
                last_exit=None if last is None else ExitStatus(*last), last_spawn=data["last_spawn"],
                last_ran=data["last_ran"], quick_failures=int(data["quick_failures"]),
                last_trigger=data["last_trigger"], throttled_until=data["throttled_until"],
                watching=bool(data["watching"]), instances={int(p): float(t) for p, t in data["instances"]},
                conditions={Fact(FactKind(k), s): bool(v) for k, s, v in data["conditions"]},
                demanded=bool(data["demanded"]))
        m._restart = (str(data["restart"][0]), bool(data["restart"][1]))
        m._held = (str(data["held"][0]), data["held"][1])
        m._last_stdio = data["last_stdio"]
        if m.phase is REMOVED:
            raise ValueError("a removed job is not restored")
        if m.want is Want.RESPEC:
            m._pending_spec = spec
        return m

    # -- helpers ------------------------------------------------------------

    def _load(self, now: float) -> list[Action]:
        acts: list[Action] = []
        if self.spec.start_interval:
            acts.append(SetTimer(Timer.INTERVAL, now + self.spec.start_interval))
        if self.spec.inetd_nowait:
            return acts + self._watch()
        ka = self.spec.keep_alive
        if self.spec.run_at_load or (ka.implies_run_at_load and not ka.after_initial_demand):
            return acts + self._want_start("run at load", now)
        reason = keepalive.condition_reason(self.spec, self.demanded, self.conditions)
        if reason is not None:
            return acts + self._want_start(reason, now)
        return acts + self._watch()

    def _instance_exited(self, pid: int, exit: ExitStatus, now: float) -> list[Action]:
        del self.instances[pid]
        self.last_exit = exit
        acts: list[Action] = [CancelTimer(InstanceKill(pid))]
        if self.want is Want.GONE:
            return acts + self._maybe_removed()
        if self.want is Want.RESPEC:
            # A reload waits for every instance; then the new spec applies.
            if self.instances or self.pid is not None:
                return acts
            return acts + self._apply_pending_spec(now)
        if self.phase is WAITING and not self.watching:
            acts += self._watch()
        return acts

    def _apply_pending_spec(self, now: float) -> list[Action]:
        """Nothing of the old definition runs any more: the new one applies."""
        assert self._pending_spec is not None
        self.spec, self._pending_spec = self._pending_spec, None
        self.want, self._restart = Want.KEYS, ("", False)
        self.last_spawn = None
        return [SwapSockets()] + self._load(now)

    def _want_start(self, reason: str, now: float, stdio: int | None = None, force: bool = False) -> list[Action]:
        if self.want in (Want.GONE, Want.DONE) or self.phase is REMOVED:
            return []
        if self.phase in (RUNNING, STOPPING):
            if self.want is Want.KEYS:
                self.want, self._restart = Want.RESTART, (reason, False)
            return []
        if self.phase is THROTTLED:
            return []
        throttle = self.spec.throttle_interval
        if not force and self.last_spawn is not None and throttle > 0 and now - self.last_spawn < throttle:
            since = max(0, math.floor(now - self.last_spawn))
            ran = since if self.last_ran is None else min(since, math.floor(self.last_ran))
            self.phase = THROTTLED
            self.throttled_until = self.last_spawn + throttle
            self._held = (reason, stdio)
            return self._ignore() + [
                Log("warning", f"Service only ran for {ran} seconds. Pushing respawn out by {throttle - since} seconds."),
                SetTimer(Timer.THROTTLE, self.throttled_until),
            ]
        return self._spawn(reason, now, stdio)

    def _crash_loop(self, exit: ExitStatus, ran: float) -> list[Action]:
        """Note the run that just ended; say so plainly when a job keeps
        failing at once (launchd retries it every ThrottleInterval forever)."""
        self.last_ran = ran
        quick = not exit.clean and ran < max(self.spec.throttle_interval, 1)
        self.quick_failures = self.quick_failures + 1 if quick else 0
        n = self.quick_failures
        if n != CRASH_LOOP and (n < CRASH_LOOP or n & (n - 1)):  # at 5, then 8, 16, 32, ...: ever sparser
            return []
        return [Log("error", f"Failed {n} times in a row, each within {max(self.spec.throttle_interval, 1)} s of "
                             f"starting (last: {exit.describe()}); it is started again every "
                             f"{self.spec.throttle_interval} s (ThrottleInterval) while its keys ask for it. Its "
                             f"output: pylaunchctl log {self.label}; pylaunchctl unload its plist to stop it")]

    def _spawn(self, reason: str, now: float, stdio: int | None) -> list[Action]:
        self.phase = RUNNING
        self.runs += 1
        self.last_spawn = now
        self.last_trigger = reason
        if stdio is None and self.spec.inetd is not None and self.spec.sockets:
            stdio = 0
        self._last_stdio = stdio
        return self._ignore() + [Spawn(reason, stdio)]

    def _terminate(self, now: float) -> list[Action]:
        assert self.pid is not None
        if self.phase is STOPPING:
            return []
        self.phase = STOPPING
        acts: list[Action] = [Kill(self.pid, signal.SIGTERM)]
        if self.spec.exit_timeout > 0:
            acts.append(SetTimer(Timer.KILL, now + self.spec.exit_timeout))
        return acts

    def _terminate_instance(self, pid: int, now: float) -> list[Action]:
        acts: list[Action] = [Kill(pid, signal.SIGTERM)]
        if self.spec.exit_timeout > 0:
            acts.append(SetTimer(InstanceKill(pid), now + self.spec.exit_timeout))
        return acts

    def _maybe_removed(self) -> list[Action]:
        if self.pid is None and not self.instances:
            self.phase = REMOVED
            return [Remove()]
        return []

    def _watch(self) -> list[Action]:
        if self.watching or not self.spec.sockets or self.want in (Want.GONE, Want.DONE):
            return []
        self.watching = True
        return [WatchSockets()]

    def _ignore(self) -> list[Action]:
        if not self.watching:
            return []
        self.watching = False
        return [IgnoreSockets()]

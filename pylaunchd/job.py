"""The job state machine: events in, actions out, no side effects.

A :class:`Job` is told what happened (loaded, socket readable, spawned, exited,
timer fired, start/stop/unload/reload requested) together with the current
monotonic time, and answers with a list of actions for the manager's event
loop to carry out (spawn, signal, watch or ignore the sockets, set or cancel a
timer, log, remove). Because it never touches a process, a socket or a clock,
KeepAlive, throttling and exit timeouts are tested here with plain numbers.

States (``pylaunchctl list --json`` shows them):

``waiting``    not running; its sockets (if any) are watched for a client.
``throttled``  a start is due but ``ThrottleInterval`` has not passed since
               the previous spawn; a timer will spawn it.
``running``    a process is running; its sockets are not watched.
``stopping``   SIGTERM was sent; SIGKILL follows after ``ExitTimeOut``.
"""

from __future__ import annotations

import math
import os
import signal
from dataclasses import dataclass, field

from .spec import JobSpec

WAITING, THROTTLED, RUNNING, STOPPING = "waiting", "throttled", "running", "stopping"

# Signals launchd counts as a crash for KeepAlive.Crashed.
CRASH_SIGNALS = frozenset({signal.SIGILL, signal.SIGABRT, signal.SIGFPE, signal.SIGBUS,
                           signal.SIGSEGV, signal.SIGSYS, signal.SIGTRAP})

# Per-connection instances (inetdCompatibility Wait false) running at once;
# past it the manager stops accepting and connections wait in the kernel queue.
MAX_INSTANCES = 128


# ---------------------------------------------------------------------------
# Actions


@dataclass(frozen=True)
class Spawn:
    """Start the job's process. ``stdio_socket``: index of the socket to put on
    fds 0-2 (inetd Wait true), else None (sockets go to fds 3.. with LISTEN_FDS)."""

    reason: str
    stdio_socket: int | None = None


@dataclass(frozen=True)
class AcceptAndSpawn:
    """inetd Wait false: accept one connection on socket ``index`` and start an
    instance with it on fds 0-2."""

    index: int


@dataclass(frozen=True)
class Kill:
    pid: int
    signal: int


@dataclass(frozen=True)
class KillGroup:
    pgid: int
    signal: int


@dataclass(frozen=True)
class WatchSockets:
    pass


@dataclass(frozen=True)
class IgnoreSockets:
    pass


@dataclass(frozen=True)
class SwapSockets:
    """Bring the open sockets in line with the (new) spec: keep the groups
    whose definition is unchanged, close the others and create the new ones.
    Emitted by a reload when nothing of the job runs (a running job holds
    its sockets, so a changed address could not be bound yet)."""


@dataclass(frozen=True)
class SetTimer:
    name: str
    at: float


@dataclass(frozen=True)
class CancelTimer:
    name: str


@dataclass(frozen=True)
class Log:
    level: str  # debug | info | warning | error
    message: str


@dataclass(frozen=True)
class Remove:
    """Nothing of the job runs any more and it was unloaded: close its sockets."""


Action = Spawn | AcceptAndSpawn | Kill | KillGroup | WatchSockets | IgnoreSockets | SwapSockets | SetTimer | CancelTimer | Log | Remove


# ---------------------------------------------------------------------------
# Exit statuses


@dataclass(frozen=True)
class ExitStatus:
    code: int | None = None
    signal: int | None = None

    @classmethod
    def from_wait_status(cls, status: int) -> "ExitStatus":
        if os.WIFSIGNALED(status):
            return cls(signal=os.WTERMSIG(status))
        return cls(code=os.WEXITSTATUS(status))

    @property
    def clean(self) -> bool:
        return self.code == 0

    @property
    def crashed(self) -> bool:
        return self.signal in CRASH_SIGNALS

    @property
    def list_value(self) -> int:
        """launchctl list's Status column: the exit code, or minus the signal."""
        return self.code if self.code is not None else -(self.signal or 0)

    def describe(self) -> str:
        if self.signal is not None:
            try:
                name = signal.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"{name} ({signal.strsignal(self.signal) or ''})".replace(" ()", "")
        return f"exit code {self.code}"


# ---------------------------------------------------------------------------
# The machine


@dataclass
class Job:
    spec: JobSpec
    state: str = WAITING
    pid: int | None = None
    runs: int = 0
    last_exit: ExitStatus | None = None
    last_spawn: float | None = None
    last_trigger: str | None = None
    throttled_until: float | None = None
    watching: bool = False
    removing: bool = False
    finished: bool = False  # LaunchOnlyOnce: ran once, never again until reloaded
    instances: dict[int, float] = field(default_factory=dict)
    # Facts about the world the manager keeps current: "path:P" (P exists),
    # "queue" (a QueueDirectories directory is not empty), "loaded:L" and
    # "active:L" (another job is loaded / running), "network" (an interface
    # other than loopback is up).
    conditions: dict[str, bool] = field(default_factory=dict)
    demanded: bool = False  # started on demand at least once (AfterInitialDemand)
    _pending_start: str | None = None
    _pending_spec: JobSpec | None = None
    _stop_sent: bool = False
    _pending_trigger: tuple[str, int | None] = ("", None)
    _last_stdio: int | None = None
    _force_next: bool = False  # the pending start skips the throttle (kickstart -k)

    @property
    def label(self) -> str:
        return self.spec.label

    @property
    def max_instances(self) -> int:
        inetd = self.spec.inetd
        return inetd.instances if inetd is not None and inetd.instances else MAX_INSTANCES

    # -- events -------------------------------------------------------------

    def load(self, now: float) -> list[Action]:
        """The job was loaded (or reloaded): start it if its keys say so."""
        acts: list[Action] = []
        if self.spec.start_interval:
            acts.append(SetTimer("interval", now + self.spec.start_interval))
        if self.spec.inetd_nowait:
            return acts + self._watch()
        ka = self.spec.keep_alive
        if self.spec.run_at_load or (ka.implies_run_at_load and not ka.after_initial_demand):
            return acts + self._want_start("run at load", now)
        reason = self._condition_reason()
        if reason is not None:
            return acts + self._want_start(reason, now)
        return acts + self._watch()

    def trigger(self, reason: str, now: float) -> list[Action]:
        """A launch event: WatchPaths, StartCalendarInterval, StartOnMount."""
        if self.spec.inetd_nowait or self.removing:
            return []
        self.demanded = True
        return self._want_start(reason, now)

    def condition(self, name: str, value: bool, now: float) -> list[Action]:
        """A fact a KeepAlive condition or QueueDirectories depends on changed.
        launchd starts the job as soon as a condition becomes true."""
        old = self.conditions.get(name)
        self.conditions[name] = value
        if value == old or self.state != WAITING or self.removing or self.spec.inetd_nowait:
            return []
        reason = self._condition_reason()
        return self._want_start(reason, now) if reason is not None else []

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

    def spawned(self, pid: int, now: float) -> list[Action]:
        self.pid = pid
        return []

    def spawn_failed(self, now: float) -> list[Action]:
        """fork() failed: nothing runs. Try again in a second, as launchd does."""
        self.state = THROTTLED
        self.pid = None
        self.throttled_until = now + 1
        self._pending_trigger = (self.last_trigger or "retry after fork failure", self._last_stdio)
        return [SetTimer("throttle", self.throttled_until)]

    def instance_spawned(self, pid: int, now: float, reason: str = "connection accepted") -> list[Action]:
        self.instances[pid] = now
        self.runs += 1
        self.last_spawn = now
        self.last_trigger = reason
        if len(self.instances) >= self.max_instances:
            return [Log("warning", f"{self.max_instances} instances running; new connections wait in the queue")] + self._ignore()
        return []

    def exited(self, pid: int, exit: ExitStatus, now: float) -> list[Action]:
        """A process of this job was reaped."""
        if pid in self.instances:
            del self.instances[pid]
            self.last_exit = exit
            acts: list[Action] = [CancelTimer(f"kill:{pid}")]
            if self.removing:
                return acts + self._maybe_removed()
            if self._pending_spec is not None:
                # A reload waits for every instance; then the new spec applies.
                if self.instances or self.pid is not None:
                    return acts
                self.spec, self._pending_spec = self._pending_spec, None
                self.last_spawn = None
                self._pending_start = None
                return acts + [SwapSockets()] + self.load(now)
            if self.state == WAITING and not self.watching:
                acts += self._watch()
            return acts
        if pid != self.pid:
            return []
        ran = now - self.last_spawn if self.last_spawn is not None else 0.0
        stopped_by_us = self._stop_sent
        self.pid = None
        self._stop_sent = False
        self.last_exit = exit
        self.state = WAITING
        acts = [CancelTimer("kill"), self._exit_log(exit, ran)]
        if not self.spec.abandon_process_group:
            acts.append(KillGroup(pid, signal.SIGTERM))
        if self.removing:
            return acts + self._maybe_removed()
        if self._pending_spec is not None:
            self.spec, self._pending_spec = self._pending_spec, None
            self.last_spawn = None
            self._pending_start = None
            return acts + [SwapSockets()] + self.load(now)
        if self.spec.launch_only_once:
            self.finished = True
            return acts + [Log("info", "Exited. Was only configured to run once.")]
        reason = self._keep_alive_reason(exit, stopped_by_us)
        if self._pending_start is not None and (reason is None or self._force_next):
            reason = self._pending_start
        force, self._force_next = self._force_next, False
        self._pending_start = None
        if reason is not None:
            return acts + self._want_start(reason, now, force=force)
        return acts + self._watch()

    def timer(self, name: str, now: float) -> list[Action]:
        if name == "throttle" and self.state == THROTTLED:
            self.state = WAITING
            self.throttled_until = None
            reason, stdio = self._pending_trigger
            return self._spawn(reason, now, stdio)
        if name == "kill" and self.state == STOPPING and self.pid is not None:
            return [Log("warning", f"Exit timeout elapsed ({self.spec.exit_timeout} seconds). Killing"),
                    Kill(self.pid, signal.SIGKILL)]
        if name.startswith("kill:"):
            pid = int(name[5:])
            if pid in self.instances:
                return [Kill(pid, signal.SIGKILL)]
        if name == "interval" and not self.removing and self.spec.start_interval and not self.spec.inetd_nowait:
            return [SetTimer("interval", now + self.spec.start_interval)] + self._want_start("StartInterval", now)
        return []

    def start(self, now: float) -> list[Action]:
        """``pylaunchctl start``: run it now if it is not running (throttle applies)."""
        if self.removing or self.state in (RUNNING, STOPPING, THROTTLED):
            return []
        if self.spec.inetd_nowait:
            return [Log("info", "per-connection (inetd Wait false) job: it starts on each connection")]
        self.finished = False
        self.demanded = True
        return self._want_start("kickstart by user", now)

    def kickstart(self, now: float, kill: bool = False) -> list[Action]:
        """``pylaunchctl kickstart``: run it now, whatever its launch
        conditions and its throttle. With ``kill``, a running instance is
        stopped first and the job started again as soon as it has exited."""
        if self.removing:
            return []
        if self.spec.inetd_nowait:
            return [Log("info", "per-connection (inetd Wait false) job: it starts on each connection")]
        self.finished = False
        self.demanded = True
        if self.state in (RUNNING, STOPPING):
            if not kill:
                return []
            self._pending_start = "kickstart -k by user"
            self._force_next = True
            return self._terminate(now) if self.state == RUNNING else []
        acts: list[Action] = []
        if self.state == THROTTLED:
            acts.append(CancelTimer("throttle"))
            self.state = WAITING
            self.throttled_until = None
        return acts + self._spawn("kickstart by user", now, None)

    def signal(self, sig: int) -> list[Action]:
        """``pylaunchctl kill``: send *sig* to what runs. KeepAlive still
        decides what happens after it exits, as in launchd."""
        pids = ([self.pid] if self.pid is not None else []) + sorted(self.instances)
        return [Kill(pid, sig) for pid in pids]

    def stop(self, now: float) -> list[Action]:
        """``pylaunchctl stop``: SIGTERM the running instance(s). KeepAlive may restart it."""
        acts: list[Action] = []
        for pid in list(self.instances):
            acts += self._terminate_instance(pid, now)
        if self.state == RUNNING and self.pid is not None:
            acts += self._terminate(now)
        return acts

    def unload(self, now: float) -> list[Action]:
        """Stop everything for good and, once nothing runs, remove the job."""
        self.removing = True
        acts: list[Action] = [CancelTimer("interval"), CancelTimer("throttle")] + self._ignore()
        if self.state == THROTTLED:
            self.state = WAITING
            self.throttled_until = None
        for pid in list(self.instances):
            acts += self._terminate_instance(pid, now)
        if self.state == RUNNING and self.pid is not None:
            acts += self._terminate(now)
        return acts + self._maybe_removed()

    def reload(self, spec: JobSpec, now: float) -> list[Action]:
        """The plist changed. A running job is stopped and started again by the
        new definition; the manager has already swapped any changed sockets."""
        if spec == self.spec and self._pending_spec is None:
            return []
        acts: list[Action] = [CancelTimer("interval"), CancelTimer("throttle")]
        if self.state in (RUNNING, STOPPING) or self.instances:
            self._pending_spec = spec
            acts += self._ignore()
            if self.state == RUNNING:
                acts += self._terminate(now)
            for pid in list(self.instances):
                acts += self._terminate_instance(pid, now)
            return acts
        self.spec = spec
        self.state = WAITING
        self.throttled_until = None
        self.last_spawn = None
        self.finished = False
        self._pending_start = None
        return acts + self._ignore() + [SwapSockets()] + self.load(now)

    # -- helpers ------------------------------------------------------------

    def _want_start(self, reason: str, now: float, stdio: int | None = None, force: bool = False) -> list[Action]:
        if self.removing or self.finished:
            return []
        if self.state in (RUNNING, STOPPING):
            self._pending_start = self._pending_start or reason
            return []
        if self.state == THROTTLED:
            return []
        throttle = self.spec.throttle_interval
        if not force and self.last_spawn is not None and throttle > 0 and now - self.last_spawn < throttle:
            ran = max(0, math.floor(now - self.last_spawn))
            self.state = THROTTLED
            self.throttled_until = self.last_spawn + throttle
            self._pending_trigger = (reason, stdio)
            return self._ignore() + [
                Log("warning", f"Service only ran for {ran} seconds. Pushing respawn out by {throttle - ran} seconds."),
                SetTimer("throttle", self.throttled_until),
            ]
        return self._spawn(reason, now, stdio)

    def _spawn(self, reason: str, now: float, stdio: int | None) -> list[Action]:
        self.state = RUNNING
        self.runs += 1
        self.last_spawn = now
        self.last_trigger = reason
        if stdio is None and self.spec.inetd is not None and self.spec.sockets:
            stdio = 0
        self._last_stdio = stdio
        return self._ignore() + [Spawn(reason, stdio)]

    def _terminate(self, now: float) -> list[Action]:
        assert self.pid is not None
        if self.state == STOPPING:
            return []
        self.state = STOPPING
        self._stop_sent = True
        acts: list[Action] = [Kill(self.pid, signal.SIGTERM)]
        if self.spec.exit_timeout > 0:
            acts.append(SetTimer("kill", now + self.spec.exit_timeout))
        return acts

    def _terminate_instance(self, pid: int, now: float) -> list[Action]:
        acts: list[Action] = [Kill(pid, signal.SIGTERM)]
        if self.spec.exit_timeout > 0:
            acts.append(SetTimer(f"kill:{pid}", now + self.spec.exit_timeout))
        return acts

    def _maybe_removed(self) -> list[Action]:
        if self.pid is None and not self.instances:
            return [Remove()]
        return []

    def _watch(self) -> list[Action]:
        if self.watching or not self.spec.sockets or self.removing or self.finished:
            return []
        self.watching = True
        return [WatchSockets()]

    def _ignore(self) -> list[Action]:
        if not self.watching:
            return []
        self.watching = False
        return [IgnoreSockets()]

    def _keep_alive_reason(self, exit: ExitStatus, stopped_by_us: bool) -> str | None:
        """Why the job must run again after this exit, or None."""
        ka = self.spec.keep_alive
        if ka.always:
            return "KeepAlive"
        if not (ka.after_initial_demand and not self.demanded):
            if ka.successful_exit is True and exit.clean:
                return "KeepAlive SuccessfulExit: exited cleanly"
            if ka.successful_exit is False and not exit.clean:
                return f"KeepAlive SuccessfulExit false: exited with {exit.describe()}"
            if ka.crashed is True and exit.crashed and not stopped_by_us:
                return f"KeepAlive Crashed: {exit.describe()}"
            if ka.crashed is False and not exit.crashed:
                return "KeepAlive Crashed false: exited without crashing"
        return self._condition_reason()

    def _condition_reason(self) -> str | None:
        """The KeepAlive conditions (and QueueDirectories) that depend on the
        state of the world rather than on the last exit, ORed."""
        if self.spec.queue_directories and self.conditions.get("queue"):
            return "QueueDirectories: a directory is not empty"
        ka = self.spec.keep_alive
        if ka.after_initial_demand and not self.demanded:
            return None
        for path, want in ka.path_state:
            if self.conditions.get(f"path:{path}", False) == want:
                return f"KeepAlive PathState: {path} {'exists' if want else 'does not exist'}"
        for label, want in ka.other_job_enabled:
            if self.conditions.get(f"loaded:{label}", False) == want:
                return f"KeepAlive OtherJobEnabled: {label} {'is' if want else 'is not'} loaded"
        for label, want in ka.other_job_active:
            if self.conditions.get(f"active:{label}", False) == want:
                return f"KeepAlive OtherJobActive: {label} {'is' if want else 'is not'} running"
        if ka.network_state is not None and "network" in self.conditions \
                and self.conditions["network"] == ka.network_state:
            return f"KeepAlive NetworkState: the network is {'up' if ka.network_state else 'down'}"
        if ka.after_initial_demand and self.demanded and not (
                ka.successful_exit is not None or ka.crashed is not None or ka.path_state
                or ka.other_job_enabled or ka.other_job_active or ka.network_state is not None):
            return "KeepAlive AfterInitialDemand: started on demand before"
        return None

    @staticmethod
    def _exit_log(exit: ExitStatus, ran: float) -> Log:
        if exit.signal is not None:
            if exit.crashed:
                return Log("warning", f"Job appears to have crashed: {exit.describe()}")
            return Log("info", f"Exited: {exit.describe()} after {ran:.1f} s")
        if exit.code:
            return Log("warning", f"Exited with code: {exit.code} after {ran:.1f} s")
        return Log("info", f"Exited with code: 0 after {ran:.1f} s")


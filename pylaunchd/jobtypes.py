"""The vocabulary of a job's state machine (:mod:`pylaunchd.job`).

What a job *is* (:class:`Phase`) and what is *wanted* of it (:class:`Want`)
are two values, as s6 keeps ``flagwantup`` apart from the process state; the
timers it sets and the facts it reads are typed keys, never strings parsed
again later; its exit statuses and the actions it asks for are frozen
dataclasses. Standard library only: the control layer and the CLI may import
this module without pulling in the manager.
"""

from __future__ import annotations

import enum
import os
import signal
from dataclasses import dataclass


class Phase(enum.StrEnum):
    """What the job is doing now (``pylaunchctl list --json`` shows it as ``state``)."""

    WAITING = "waiting"
    """No main process runs; the sockets (if any) are watched for a client."""
    THROTTLED = "throttled"
    """A start is due but ``ThrottleInterval`` has not passed since the
    previous spawn; the throttle timer will spawn it."""
    RUNNING = "running"
    """The main process runs; the sockets are not watched (it has them)."""
    STOPPING = "stopping"
    """SIGTERM was sent to the main process; SIGKILL follows after ``ExitTimeOut``."""
    REMOVED = "removed"
    """Unloaded and nothing runs any more: the Remove action was given. Final."""


class Want(enum.StrEnum):
    """What is wanted of the job, beside what it is doing."""

    KEYS = "keys"
    """Run as its keys say: launch events, sockets, KeepAlive."""
    RESTART = "restart"
    """Start again as soon as the main process has exited (a start was asked
    for while it ran, or ``kickstart -k``)."""
    RESPEC = "respec"
    """The plist changed while something ran: once every process has exited
    the new definition applies (its sockets are swapped, then it is loaded)."""
    DONE = "done"
    """``LaunchOnlyOnce``: it ran once and never runs again until it is
    reloaded or started by hand."""
    GONE = "gone"
    """Unloaded: remove it as soon as nothing of it runs."""


class Timer(enum.StrEnum):
    """The machine's own timers (one of each at most)."""

    THROTTLE = "throttle"  # the held-back start is due
    KILL = "kill"  # the main process had its ExitTimeOut: SIGKILL it
    INTERVAL = "interval"  # StartInterval


@dataclass(frozen=True)
class InstanceKill:
    """The timer of one per-connection instance's ExitTimeOut."""

    pid: int


TimerKey = Timer | InstanceKill


class FactKind(enum.StrEnum):
    PATH = "path"  # KeepAlive.PathState: the path exists
    QUEUE = "queue"  # QueueDirectories: a directory is not empty
    LOADED = "loaded"  # KeepAlive.OtherJobEnabled: the job is loaded
    ACTIVE = "active"  # KeepAlive.OtherJobActive: the job's process runs
    NETWORK = "network"  # KeepAlive.NetworkState: an interface other than loopback is up


@dataclass(frozen=True)
class Fact:
    """A fact about the world that a KeepAlive condition (or QueueDirectories)
    reads; *subject* is the path or the other job's label."""

    kind: FactKind
    subject: str = ""

    @classmethod
    def path(cls, p: str) -> "Fact":
        return cls(FactKind.PATH, p)

    @classmethod
    def loaded(cls, label: str) -> "Fact":
        return cls(FactKind.LOADED, label)

    @classmethod
    def active(cls, label: str) -> "Fact":
        return cls(FactKind.ACTIVE, label)


QUEUE = Fact(FactKind.QUEUE)
NETWORK = Fact(FactKind.NETWORK)

# Signals launchd counts as a crash for KeepAlive.Crashed.
CRASH_SIGNALS = frozenset({signal.SIGILL, signal.SIGABRT, signal.SIGFPE, signal.SIGBUS,
                           signal.SIGSEGV, signal.SIGSYS, signal.SIGTRAP})


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
# Actions: what the machine asks the job's runtime to carry out, in order.


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
    name: TimerKey
    at: float


@dataclass(frozen=True)
class CancelTimer:
    name: TimerKey


@dataclass(frozen=True)
class Log:
    level: str  # debug | info | warning | error
    message: str


@dataclass(frozen=True)
class Remove:
    """Nothing of the job runs any more and it was unloaded: close its sockets."""


Action = (Spawn | AcceptAndSpawn | Kill | KillGroup | WatchSockets | IgnoreSockets | SwapSockets
          | SetTimer | CancelTimer | Log | Remove)

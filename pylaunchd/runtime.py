"""One loaded job: its state machine and everything the loop holds for it.

A :class:`JobRuntime` owns the job's :class:`~pylaunchd.job.JobMachine`, its
open sockets, its timers, its socket watches, its output pipes, its log and
its StartCalendarInterval timer, and it carries out the actions its machine
returns. It is the only place that turns one job's decisions into effects:
the machine decides, the runtime spawns, signals, watches and schedules.

What it needs from the rest of the manager comes in a :class:`JobContext`:
the clock, the loop (for fd watches), the domain's environment and a few
callbacks (a child was spawned, the main process started or stopped, the job
is gone, its sockets changed). Every change to the machine goes in as an
event; nothing here writes into the machine's fields.

Guarantees:

* every socket of the job stays open from load to removal; a reload closes
  only the groups whose definition changed, and only when nothing runs;
* a per-connection instance's connection is accepted only when the kernel
  says one is pending, so the loop never blocks in ``accept()``;
* what a job wrote before it exited is read before its exit is acted on;
* on removal every timer is cancelled, every watch removed, every socket
  closed (its unix socket file unlinked) and every pipe drained and closed.

It also takes over processes that run already (:meth:`JobRuntime.adopt`,
:meth:`JobRuntime.resume`): a re-exec's jobs, or what boot started.

Size: carrying out the actions and taking over what runs share the same
timers, pipes, watches and children; apart, each half would reach into the
other's fields.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

from .acceptpause import AcceptPause
from .clock import Clock, Handle
from .job import JobMachine
from .joblog import PIPE_SIZE, JobLog, output_pipe
from .jobtypes import (AcceptAndSpawn, Action, CancelTimer, ExitStatus, Fact, IgnoreSockets, Kill, KillGroup, Log,
                       Phase, Remove, SetTimer, Spawn, SwapSockets, Timer, TimerKey, WatchSockets)
from .triggers.schedule import CalendarTimer
from .sockets import BoundSocket, SocketError, SocketGroup, close_group, create_groups
from .instances import InstanceSpawns
from .spawn import spawn, spawn_planned
from .spec import JobSpec

log = logging.getLogger("pylaunchd")
ACCEPT_BATCH = 16  # connections one readiness event of an inetd socket may accept


@dataclass
class JobContext:
    """What a job's runtime may use of the manager around it."""

    clock: Clock
    loop: asyncio.AbstractEventLoop
    job_env: Callable[[JobSpec], dict[str, str]]  # the domain's variables for a new process of this job
    child_spawned: Callable[[int, "JobRuntime"], None]  # reap this pid for this job
    active_changed: Callable[[str, bool], None]  # the job's main process started / is gone
    removed: Callable[["JobRuntime"], None]  # nothing of the job runs any more; it is closed
    sockets_changed: Callable[[str, list[SocketGroup] | None], None]  # a job's sockets are these now (None: gone)
    file_facts: Callable[[JobSpec], Mapping[Fact, bool]]  # the job's path facts, as they are now
    # who closes the sockets of a removed job (the manager, in a shutdown: after the last job)
    close_groups: Callable[[list[SocketGroup]], None] | None = None


def _pending(fd: int) -> bool:
    """Whether *fd* is readable now (a connection waits to be accepted)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class JobRuntime:
    def __init__(self, spec: JobSpec, groups: list[SocketGroup], log_: JobLog, ctx: JobContext):
        self.machine = JobMachine(spec)
        self.groups = groups
        self.log = log_
        self.ctx = ctx
        self.timers: dict[TimerKey, Handle] = {}
        self.deadlines: dict[TimerKey, float] = {}  # when each timer is due (a re-exec sets them again)
        self.readers: list[int] = []
        self.pipes: set[int] = set()  # read ends of the job's output pipes
        self.calendar: CalendarTimer | None = None
        self.spawn_error: str | None = None
        self.spawn_warnings: list[str] = []
        self.accepts = AcceptPause(ctx.clock, spec.label, log_)
        self.accepted = 0  # connections accepted for inetd instances, all sockets
        self._spawns: InstanceSpawns | None = None  # inetd Wait false: per-connection plans, on the first
        self._swap_note: str | None = None  # a reload's line, said by the swap once the new sockets are bound

    @property
    def spec(self) -> JobSpec:
        return self.machine.spec

    @property
    def label(self) -> str:
        return self.machine.spec.label

    def flat_sockets(self) -> list[tuple[str, BoundSocket]]:
        return [(g.name, b) for g in self.groups for b in g.sockets]

    def now(self) -> float:
        return self.ctx.clock.monotonic()

    def socket_summary(self) -> str:
        return ", ".join(f"{name}={b.address_text()}" for name, b in self.flat_sockets())

    # -- events from the manager --------------------------------------------

    def load(self, facts: Mapping[Fact, bool]) -> None:
        """Start by the job's keys, given the facts its conditions read."""
        self.machine.observe(facts, replace=True)
        self._arm_calendar()
        self.execute(self.machine.load(self.now()))

    def reload(self, spec: JobSpec, facts: Mapping[Fact, bool]) -> None:
        """A new definition of the job (same label)."""
        if spec == self.spec:
            self.machine.reload(spec, self.now())  # takes the new path and warnings
            return
        self.machine.observe(facts, replace=True)
        actions = self.machine.reload(spec, self.now())
        note = f"reloading from {spec.path}"
        if any(isinstance(a, SwapSockets) for a in actions):
            self._swap_note = note  # nothing runs: said once the new sockets are bound (a client waits on them)
        else:
            self._note(note)  # it stops first
        self.execute(actions)
        self._arm_calendar()

    def _note(self, message: str) -> None:
        """A line in the manager's log and in the job's, if the job has a file
        (else kept, as "loaded from" is, for the file's first line: making it
        came before a reloaded job's new socket, 0.1 ms)."""
        log.info("(%s) %s", self.label, message)
        self.log.event(message, create=False)

    def unload(self) -> None:
        self.execute(self.machine.unload(self.now()))

    def start(self) -> None:
        self.execute(self.machine.start(self.now()))

    def stop(self) -> None:
        self.execute(self.machine.stop(self.now()))

    def kickstart(self, kill: bool = False) -> None:
        self.execute(self.machine.kickstart(self.now(), kill))

    def signal(self, sig: int) -> list[int]:
        """Send *sig* to what runs; the pids signalled."""
        actions = self.machine.signal(sig)
        self.execute(actions)
        return [a.pid for a in actions if isinstance(a, Kill)]

    def trigger(self, reason: str) -> None:
        """A launch event: WatchPaths, StartOnMount, StartCalendarInterval."""
        self.execute(self.machine.trigger(reason, self.now()))

    def bus_name_requested(self, name: str) -> None:
        """A caller waits on the job's D-Bus name *name* (MachServices)."""
        self.execute(self.machine.bus_name_requested(name, self.now()))

    @property
    def spawns(self) -> InstanceSpawns:
        """Made on the first connection: 10,000 jobs that are not inetd cost none."""
        if self._spawns is None:
            self._spawns = InstanceSpawns(self._instance_error)
        return self._spawns

    def condition(self, fact: Fact, value: bool) -> None:
        self.execute(self.machine.condition(fact, value, self.now()))

    def reaped(self, pid: int, status: int) -> None:
        """A child of this job was reaped with wait status *status*."""
        for rfd in list(self.pipes):  # read what it wrote before it died
            self._job_output(rfd)
        if self._spawns is not None:
            self._spawns.reaped(pid)  # an instance's spawn error, before its exit
        main = pid == self.machine.pid
        if main:
            self.machine.observe(self.ctx.file_facts(self.spec))
        self.execute(self.machine.exited(pid, ExitStatus.from_wait_status(status), self.now()))
        if main:
            self.ctx.active_changed(self.label, self.machine.pid is not None)

    # -- taking over what runs already ---------------------------------------

    def adopt(self, pid: int, started: float, pipes: Iterable[int] = (), reason: str = "adopted") -> None:
        """Make *pid*, a child of the manager that runs already, this job's
        process, as if spawned at *started* (monotonic time): its exit is
        reaped for this job, KeepAlive, ExitTimeOut and the throttle apply
        to it, and *pipes* (read ends of its output, any flags) are read into
        the job's log. The main process of a waiting job, or an instance of
        an inetd Wait false job. For processes started before the table
        loaded the job: by boot, or before a re-exec whose state was lost.
        Then :meth:`resume` with the job's facts, instead of :meth:`load`."""
        for rfd in pipes:
            self.read_pipe(rfd)
        self.ctx.child_spawned(pid, self)
        if self.spec.inetd_nowait:
            self.execute(self.machine.instance_spawned(pid, started, reason))
            return
        self.execute(self.machine.adopted(pid, started, self.now(), reason))
        if self.machine.pid == pid:
            self.log.event(f"adopted pid {pid} ({reason})")
            self.ctx.active_changed(self.label, True)

    def main_moved(self, pid: int) -> bool:
        """``MAINPID=``: make *pid*, a process of this running job, the main
        process: reaped for this job when it is the manager's child (or
        reparented to it); the manager watches it besides (a pidfd) for the
        case its own parent reaps it. False if the machine refuses (not
        running, an inetd job)."""
        acts = self.machine.main_moved(pid)
        if self.machine.pid != pid:
            return False
        self.ctx.child_spawned(pid, self)
        self.execute(acts)
        return True

    def extend_stop(self, seconds: float) -> float | None:
        """A stopping job's SIGKILL waits at least *seconds* from now
        (``EXTEND_TIMEOUT_USEC=``); its deadline, or None if none runs."""
        at = self.deadlines.get(Timer.KILL)
        if at is None or self.machine.phase is not Phase.STOPPING:
            return None
        if self.now() + seconds > at:
            at = self.now() + seconds
            self._do(SetTimer(Timer.KILL, at))
        return at

    def read_pipe(self, rfd: int) -> None:
        """Read *rfd*, a pipe the job writes its output into, into its log."""
        os.set_blocking(rfd, False)
        self.pipes.add(rfd)
        self.ctx.loop.add_reader(rfd, self._job_output, rfd)

    def resume(self, facts: Mapping[Fact, bool], machine: JobMachine | None = None,
               deadlines: Mapping[TimerKey, float] | None = None) -> None:
        """Carry on instead of :meth:`load`: with *machine* (a re-exec's,
        for this job's spec) in place of the fresh one, its children reaped
        for this job, its timers set again at their *deadlines* (monotonic,
        so they survive an exec), its sockets watched if they were; then the
        *facts* as they are now arrive as events (a condition that came true
        meanwhile starts the job)."""
        if machine is not None:
            self.machine = machine
            for pid in [machine.pid, *machine.instances]:
                if pid is not None:
                    self.ctx.child_spawned(pid, self)
            if machine.pid is not None:
                self.ctx.active_changed(self.label, True)
        for key, at in (deadlines or {}).items():
            self._do(SetTimer(key, at))
        if self.machine.watching:
            self._watch()
        self._arm_calendar()
        for fact, value in facts.items():
            self.condition(fact, value)

    # -- carrying out -------------------------------------------------------

    def execute(self, actions: list[Action]) -> None:
        for act in actions:
            if isinstance(act, SwapSockets):
                if not self._swap_sockets():
                    return  # the job was unloaded instead; what followed no longer applies
                continue
            try:
                self._do(act)
            except Exception:
                log.exception("(%s) failed to carry out %r", self.label, act)

    def _do(self, act: Action) -> None:
        if isinstance(act, Log):
            getattr(log, act.level)("(%s) %s", self.label, act.message)
            if act.level != "debug":
                self.log.event(act.message)
        elif isinstance(act, Spawn):
            self._spawn(act)
        elif isinstance(act, AcceptAndSpawn):
            self._accept_and_spawn(act.index)
        elif isinstance(act, Kill):
            try:
                os.kill(act.pid, act.signal)
            except ProcessLookupError:
                pass
        elif isinstance(act, KillGroup):
            try:
                os.killpg(act.pgid, act.signal)
            except (ProcessLookupError, PermissionError):
                pass
        elif isinstance(act, WatchSockets):
            self._watch()
        elif isinstance(act, IgnoreSockets):
            self._unwatch()
        elif isinstance(act, SetTimer):
            self._cancel_timer(act.name)
            self.timers[act.name] = self.ctx.clock.call_at(act.at, self._timer_fired, act.name)
            self.deadlines[act.name] = act.at
        elif isinstance(act, CancelTimer):
            self._cancel_timer(act.name)
        elif isinstance(act, Remove):
            self._remove()
        else:  # pragma: no cover
            raise TypeError(f"unknown action {act!r}")

    def _cancel_timer(self, name: TimerKey) -> None:
        self.deadlines.pop(name, None)
        old = self.timers.pop(name, None)
        if old:
            old.cancel()

    def _timer_fired(self, name: TimerKey) -> None:
        self.timers.pop(name, None)
        self.deadlines.pop(name, None)
        self.execute(self.machine.timer(name, self.now()))

    def _arm_calendar(self) -> None:
        if self.calendar is not None:
            self.calendar.cancel()
            self.calendar = None
        if self.spec.start_calendar:
            self.calendar = CalendarTimer(self.ctx.clock, self.spec.start_calendar,
                                          lambda: self.trigger("StartCalendarInterval"))

    # -- spawning -----------------------------------------------------------

    def _spawn(self, act: Spawn) -> None:
        spec = self.spec
        flat = self.flat_sockets()
        stdio = flat[act.stdio_socket][1].sock if act.stdio_socket is not None and flat else None
        listen = [] if stdio is not None else [(name, b.sock) for name, b in flat]
        rfd, wfd = self._output_pipe() if stdio is None else (None, None)
        try:
            result = spawn(spec, listen, stdio, extra_env=self.ctx.job_env(spec), log_fd=wfd)
        except (OSError, ValueError) as e:  # ValueError: a NUL in an argument or variable
            if rfd is not None:
                self._close_pipe(rfd)
            why = e.strerror if isinstance(e, OSError) else str(e)
            log.error("(%s) could not fork: %s", spec.label, why)
            self.spawn_error = f"fork failed: {why}"
            self.execute(self.machine.spawn_failed(self.now()))
            return
        finally:
            if wfd is not None:
                os.close(wfd)
        self.ctx.child_spawned(result.pid, self)
        log.info("(%s) started pid %d (%s)", spec.label, result.pid, act.reason)
        self.note_started(result.pid, act.reason, result.error, result.warnings)
        self.execute(self.machine.spawned(result.pid, self.now()))
        self.ctx.active_changed(spec.label, True)

    def note_started(self, pid: int, reason: str, error: str | None, warnings: list[str]) -> None:
        """A new main process: its start, and its spawn's error and warnings, in both logs."""
        self.spawn_error, self.spawn_warnings = error, warnings
        self.log.event(f"started pid {pid} ({reason})")
        for w in warnings:
            log.warning("(%s) %s", self.label, w)
            self.log.event(f"warning: {w}")
        if error:
            log.error("(%s) %s", self.label, error)
            self.log.event(f"spawn error: {error}")

    def _accept_and_spawn(self, index: int) -> None:
        flat = self.flat_sockets()
        if index >= len(flat):
            return
        name, bound = flat[index]
        # The listening socket is blocking (as handed to jobs, and the flag is
        # shared by every copy): make sure a connection is really pending so
        # that accept() cannot block the loop. poll(), not select(): with
        # thousands of jobs the fd is past select's 1024.
        if not _pending(bound.sock.fileno()):
            return
        try:
            fd, addr = bound.sock._accept()  # the bare descriptor: no socket object per connection
        except InterruptedError:
            return
        except OSError as e:
            if not self.accepts.failed(e, self._unwatch, self._rewatch):
                log.warning("(%s) accept failed: %s", self.label, e.strerror)
            return
        self.accepts.succeeded()
        bound.accepted += 1
        self.accepted += 1
        inet = isinstance(addr, tuple) and len(addr) >= 2
        remote = {"REMOTE_ADDR": str(addr[0]), "REMOTE_PORT": str(addr[1])} if inet else {}
        try:
            p = self.spawns.plan(self.spec, self.ctx.job_env(self.spec), remote)
            # wait=False: the C path returns before the exec, so the loop
            # accepts the next connection while this one's process starts.
            result = spawn_planned(p, [], fd, wait=False)
        except (OSError, ValueError) as e:
            log.error("(%s) could not fork for a connection: %s", self.label, getattr(e, "strerror", None) or e)
            return
        finally:
            os.close(fd)
        self.ctx.child_spawned(result.pid, self)
        self.spawns.started(result)
        log.debug("(%s) connection from %s: started pid %d", self.label, addr, result.pid)
        peer = f"{addr[0]}:{addr[1]}" if inet else "a local peer"
        self.log.event(f"started pid {result.pid} (socket {name}: connection from {peer})")
        self.execute(self.machine.instance_spawned(result.pid, self.now(),
                                                   f"socket {name}: connection from {peer}"))

    def _instance_error(self, error: str) -> None:
        """An inetd instance could not exec (known once it has exec'd or exited)."""
        self.spawn_error = error
        log.error("(%s) %s", self.label, error)

    # -- output pipes -------------------------------------------------------

    def _output_pipe(self) -> tuple[int | None, int | None]:
        """A pipe for the job's stdout/stderr when its plist names no file
        (:func:`~pylaunchd.joblog.output_pipe`: only our end non-blocking)."""
        if self.spec.stdout_path is not None and self.spec.stderr_path is not None:
            return None, None
        rfd, wfd = output_pipe()
        self.pipes.add(rfd)
        self.ctx.loop.add_reader(rfd, self._job_output, rfd)
        return rfd, wfd

    def _job_output(self, rfd: int) -> None:
        try:
            data = os.read(rfd, PIPE_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self.log.output(data)
        else:  # every writer is gone
            self._close_pipe(rfd)

    def _close_pipe(self, rfd: int) -> None:
        if rfd in self.pipes:
            self.pipes.discard(rfd)
            self.ctx.loop.remove_reader(rfd)
            os.close(rfd)

    # -- sockets ------------------------------------------------------------

    def _watch(self) -> None:
        self._unwatch()
        for index, (name, b) in enumerate(self.flat_sockets()):
            fd = b.fileno()
            self.ctx.loop.add_reader(fd, self._readable, index, name)
            self.readers.append(fd)

    def _rewatch(self) -> None:
        if self.machine.watching:
            self._watch()

    def _unwatch(self) -> None:
        for fd in self.readers:
            self.ctx.loop.remove_reader(fd)
        self.readers.clear()

    def _readable(self, index: int, name: str) -> None:
        # An inetd Wait false job takes the connections that wait now, up to
        # ACCEPT_BATCH, each by its own event (the Instances cap holds), for
        # one wake-up of the loop; the others' sockets wait no longer than that.
        for _ in range(ACCEPT_BATCH):
            accepted = self.accepted
            actions = self.machine.socket_readable(index, name, self.now())
            if any(isinstance(a, (Spawn, AcceptAndSpawn)) for a in actions):
                bound = self.flat_sockets()[index][1]
                bound.triggers += 1
                bound.last_trigger = self.ctx.clock.timestamp()
            self.execute(actions)
            flat = self.flat_sockets()
            if self.accepted == accepted or index >= len(flat) or not _pending(flat[index][1].sock.fileno()):
                return

    def _swap_sockets(self) -> bool:
        """Carry out SwapSockets; on failure the job is unloaded (False)."""
        spec = self.spec
        note, self._swap_note = self._swap_note, None
        keep = {g.name: g for g in self.groups if g.spec in spec.sockets}
        self._unwatch()
        for g in self.groups:
            if keep.get(g.name) is not g:
                close_group(g)
        try:
            self.groups = create_groups(spec.sockets, keep)
        except SocketError as e:
            self.groups = list(keep.values())
            if note:
                self._note(note)
            log.error("(%s) %s: %s; unloading the job", spec.label, spec.path, e)
            self.execute(self.machine.unload(self.now()))
            return False
        if note:
            self._note(note)
        if self.groups:
            log.info("(%s) sockets now %s", spec.label, self.socket_summary())
        self.ctx.sockets_changed(self.label, self.groups)
        return True

    def _remove(self) -> None:
        self._unwatch()
        self.accepts.cancel()
        if self._spawns is not None:
            self._spawns.release(self.ctx.loop)
        for t in self.timers.values():
            t.cancel()
        self.timers.clear()
        self.deadlines.clear()
        if self.calendar is not None:
            self.calendar.cancel()
            self.calendar = None
        if self.ctx.close_groups is not None:
            self.ctx.close_groups(self.groups)
        else:
            for g in self.groups:
                close_group(g)
        self.groups = []
        for rfd in list(self.pipes):
            self._job_output(rfd)  # what is left in the pipe
            self._close_pipe(rfd)
        self.log.event("unloaded", create=False)
        self.log.close()
        self.ctx.removed(self)


"""Readiness: systemd's notification protocol (sd_notify), for every job.

The manager owns ONE datagram socket (:class:`NotifySocket`), beside its
control socket (``CONTROL.notify``, mode 0666 as systemd's
``/run/systemd/notify``; an abstract ``@pylaunchd-notify-PID`` when that path
is too long for a unix address), with ``SO_PASSCRED`` so that the kernel
tells who sent each message. Every job gets ``NOTIFY_SOCKET``; a message is
the job's whose main PID sent it, or a PID it announced with ``MAINPID=``,
or a descendant of either (``systemd-notify`` run from a job's shell), or an
orphan the job left behind (by the environment it was started with); from
any other process it is dropped. ``MAINPID=`` must name one of those
processes of the job (else it is refused) and makes it the job's main
process (:meth:`JobRuntime.main_moved`: a daemon that forks, hands over to
its child and exits keeps its job running), where the manager reaps it. One
socket rather than one a job: no descriptor or file a job, and the sender's
credentials, which the kernel checks, identify the job better than a path a
job could hand on.

A job's :class:`Readiness` lives beside its state machine, not in it:
``READY=1`` changes no phase (a job that is not ready runs, and readiness
never gates socket activation: clients queue in the kernel as ever), and the
watchdog acts through the machine's ``signal`` event, after which KeepAlive
decides as for any crash. Understood: ``READY=1``, ``RELOADING=1``,
``STOPPING=1``, ``STATUS=``, ``MAINPID=``, ``WATCHDOG=1``,
``WATCHDOG=trigger``, ``WATCHDOG_USEC=``, ``EXTEND_TIMEOUT_USEC=`` (a
stopping job's SIGKILL waits; before ``READY=1``, ``kickstart -w`` waits);
others are logged at debug. The manager reads what is waiting here before
it reaps exits (:meth:`NotifySocket.drain`), so a message sent before a
process exited is applied while that process still counts.

Watchdog (``WatchdogInterval`` seconds in the plist; the job gets
``WATCHDOG_USEC`` and ``WATCHDOG_PID``): from each start, and from each
``WATCHDOG=1``, the job has that long to send the next one; if it does not,
SIGABRT, then SIGKILL after its ``ExitTimeOut``, as systemd does. All on the
manager's clock.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from .clock import Clock, Handle
from .jobtypes import Phase
from .notifybind import bind_notify, notify_address
from .pid1 import label_of, parent_of

if TYPE_CHECKING:
    from .runtime import JobRuntime

log = logging.getLogger("pylaunchd")

MAX_MESSAGE = 4096
_CREDS = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass
class Readiness:
    """What a job's current process has said, reset at each start."""

    pid: int | None = None  # the main PID this is about
    ready: bool = False
    status: str | None = None  # the last STATUS= text
    stopping: bool = False
    main_pid: int | None = None  # MAINPID=
    watchdog_usec: int = 0  # 0: no watchdog
    last_ping: float | None = None  # monotonic time of the last WATCHDOG=1
    extend_until: float | None = None  # EXTEND_TIMEOUT_USEC= before READY=1: kickstart -w waits until then
    timer: Handle | None = None


def parse(data: bytes) -> dict[str, str]:
    """``KEY=VALUE`` lines; lines without ``=`` are ignored."""
    out = {}
    for line in data.decode(errors="replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            out[key] = value
    return out


class NotifySocket:
    """The manager's notification socket and every job's readiness."""

    def __init__(self, address: str, loop: asyncio.AbstractEventLoop, clock: Clock,
                 pids: Callable[[], dict[int, "JobRuntime"]]):
        self.address = address
        self.loop, self.clock, self._pids = loop, clock, pids
        self.sock: socket.socket | None = None
        self.jobs: dict["JobRuntime", Readiness] = {}
        self.mainpids: dict[int, "JobRuntime"] = {}
        # MAINPID=: make the process the job's main one (the manager's, which
        # watches it); None when the manager reaps no orphans (neither PID 1
        # nor a child subreaper), since it would never see that process exit.
        self.move_main: Callable[["JobRuntime", int], bool] | None = None

    address_for = staticmethod(notify_address)

    def open(self, inherited: int | None = None) -> None:
        """Bind the socket, or take *inherited*, the descriptor of the one a
        re-exec handed over (jobs keep their NOTIFY_SOCKET) or boot bound
        (:mod:`pylaunchd.bootspawn`: the jobs it started have it)."""
        if inherited is not None:
            self.sock = socket.socket(fileno=inherited)
            self.sock.setblocking(False)
        else:
            self.sock = bind_notify(self.address)
        self.loop.add_reader(self.sock.fileno(), self._readable)

    def close(self) -> None:
        if self.sock is None:
            return
        self.loop.remove_reader(self.sock.fileno())
        self.sock.close()
        self.sock = None
        if not self.address.startswith("@"):
            try:
                os.unlink(self.address)
            except OSError:
                pass
        for r in self.jobs.values():
            if r.timer:
                r.timer.cancel()

    def env(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.address} if self.sock is not None else {}

    def readiness(self, job: "JobRuntime") -> Readiness:
        return self.jobs.get(job) or Readiness()

    # -- the job's life -----------------------------------------------------

    def job_active(self, job: "JobRuntime") -> None:
        """The job's main process started, or exited (maybe started again)."""
        r = self.jobs.setdefault(job, Readiness())
        pid = job.machine.pid
        if pid == r.pid:
            return
        if r.timer:
            r.timer.cancel()
        if r.main_pid is not None:
            self.mainpids.pop(r.main_pid, None)
        status = r.status if pid is None else None  # the last words stay until the next start
        self.jobs[job] = r = Readiness(pid=pid, status=status)
        interval = job.spec.watchdog_interval
        if pid is not None and interval:
            r.watchdog_usec = int(interval * 1_000_000)
            self._arm(job, r)

    def job_removed(self, job: "JobRuntime") -> None:
        r = self.jobs.pop(job, None)
        if r is not None and r.timer:
            r.timer.cancel()
        for pid in [p for p, j in self.mainpids.items() if j is job]:
            del self.mainpids[pid]

    def snapshot(self, job: "JobRuntime") -> dict | None:
        """The job's readiness, JSON-able, for a re-exec."""
        r = self.jobs.get(job)
        if r is None:
            return None
        return {k: v for k, v in vars(r).items() if k != "timer"}

    def restore(self, job: "JobRuntime", data: dict) -> None:
        """The readiness a re-exec's snapshot gave; the watchdog runs on from
        the last WATCHDOG=1 (or the start)."""
        r = self.jobs.get(job)
        if r is not None and r.timer:
            r.timer.cancel()
        self.jobs[job] = r = Readiness(**data)
        if r.main_pid is not None:
            self.mainpids[r.main_pid] = job
        since = r.last_ping if r.last_ping is not None else job.machine.last_spawn
        if r.watchdog_usec and r.pid is not None and r.pid == job.machine.pid and since is not None:
            r.timer = self.clock.call_at(since + r.watchdog_usec / 1e6, self._expired, job, r.pid)

    # -- messages -----------------------------------------------------------

    def drain(self) -> None:
        """Read every message waiting now (before the manager reaps exits)."""
        if self.sock is not None:
            self._readable()

    def _readable(self) -> None:
        while self.sock is not None:
            try:
                data, anc, flags, _ = self.sock.recvmsg(MAX_MESSAGE, socket.CMSG_SPACE(_CREDS.size)
                                                        + socket.CMSG_SPACE(4 * 64))
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                log.warning("notify socket: %s", e)
                return
            pid = None
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS and len(cdata) >= _CREDS.size:
                    pid = _CREDS.unpack(cdata[:_CREDS.size])[0]
                elif level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:  # FDSTORE=1: not kept
                    for i in range(len(cdata) // 4):
                        os.close(struct.unpack_from("i", cdata, 4 * i)[0])
            if flags & socket.MSG_TRUNC or pid is None:
                log.debug("notify: dropped a message (truncated, or without credentials)")
                continue
            self.received(pid, parse(data))

    def sender(self, pid: int) -> "JobRuntime | None":
        """The job a message from *pid* is about (see the module docstring)."""
        known, me = self._pids(), os.getpid()
        for _ in range(64):
            job = self.mainpids.get(pid) or known.get(pid)
            if job is not None:
                return job
            parent = parent_of(pid)
            if parent is None or parent <= 1 or parent == me:
                break
            pid = parent
        if parent_of(pid) == me:  # an orphan reparented to us: by its environment
            label = label_of(pid)
            return next((j for j in set(known.values()) if j.label == label), None)
        return None

    def received(self, pid: int, fields: dict[str, str]) -> None:
        job = self.sender(pid)
        if job is None or job.machine.pid is None:
            log.debug("notify: message from pid %d, which is no running job's: %s", pid, fields)
            return
        r = self.jobs.get(job)
        if r is None or r.pid != job.machine.pid:
            self.job_active(job)
            r = self.jobs[job]
        self._apply(job, r, fields)

    def _apply(self, job: "JobRuntime", r: Readiness, fields: dict[str, str]) -> None:
        if "STATUS" in fields:
            r.status = fields["STATUS"]
        if fields.get("MAINPID", "").isdigit():
            self._main_pid(job, r, int(fields["MAINPID"]))
        if fields.get("RELOADING") == "1":
            r.ready = False
        if fields.get("READY") == "1" and not r.ready:
            r.ready = True
            log.info("(%s) ready%s", job.label, f": {r.status}" if r.status else "")
            job.log.event("ready (READY=1)")
        if fields.get("STOPPING") == "1":
            r.ready, r.stopping = False, True
        if fields.get("EXTEND_TIMEOUT_USEC", "").isdigit():
            self._extend(job, r, int(fields["EXTEND_TIMEOUT_USEC"]) / 1e6)
        if fields.get("WATCHDOG_USEC", "").isdigit():
            r.watchdog_usec = int(fields["WATCHDOG_USEC"])
            self._arm(job, r)
        if fields.get("WATCHDOG") == "1":
            r.last_ping = self.clock.monotonic()
            self._arm(job, r)
        elif fields.get("WATCHDOG") == "trigger":
            self._expired(job, r.pid, "WATCHDOG=trigger")
        known = {"STATUS", "MAINPID", "RELOADING", "READY", "STOPPING", "WATCHDOG_USEC", "WATCHDOG",
                 "EXTEND_TIMEOUT_USEC"}
        if set(fields) - known:
            log.debug("(%s) notify: ignored %s", job.label, ", ".join(sorted(set(fields) - known)))

    def _main_pid(self, job: "JobRuntime", r: Readiness, pid: int) -> None:
        """``MAINPID=``: refused unless *pid* is the job's (its main process,
        a descendant of it, or what it left behind), as systemd refuses a PID
        outside the unit; else messages from *pid* are the job's, and it is
        the job's main process from now on when the manager reaps it."""
        if not self._belongs(job, pid):
            log.warning("(%s) notify: MAINPID=%d refused: not a process of the job", job.label, pid)
            return
        if r.main_pid is not None and r.main_pid != pid:
            self.mainpids.pop(r.main_pid, None)
        r.main_pid = pid
        self.mainpids[pid] = job
        if pid != job.machine.pid and self.move_main is not None and self.move_main(job, pid):
            r.pid = pid
            if r.timer is not None:  # the watchdog follows the new main process
                self._arm(job, r)

    def _extend(self, job: "JobRuntime", r: Readiness, seconds: float) -> None:
        """``EXTEND_TIMEOUT_USEC=``, as systemd's: the timeout of what the job
        is doing now lasts at least *seconds* more. Stopping: its SIGKILL (the
        ExitTimeOut of a stop or a shutdown) waits; not ready yet:
        ``kickstart -w`` waits. Running and ready, there is no timeout."""
        if job.machine.phase is Phase.STOPPING:
            at = job.extend_stop(seconds)
            if at is not None:
                log.info("(%s) EXTEND_TIMEOUT_USEC: SIGKILL not before %.1f s from now", job.label,
                         at - self.clock.monotonic())
        elif not r.ready:
            r.extend_until = self.clock.monotonic() + seconds
        else:
            log.debug("(%s) notify: EXTEND_TIMEOUT_USEC with no timeout running", job.label)

    @staticmethod
    def _belongs(job: "JobRuntime", pid: int) -> bool:
        """Whether *pid* is the job's main process, a descendant of it, or a
        process the job left behind (reparented to the manager, started with
        its label)."""
        me, main = os.getpid(), job.machine.pid
        for _ in range(64):
            if pid == main:
                return True
            parent = parent_of(pid)
            if parent is None:
                return False
            if parent == me:
                return label_of(pid) == job.label
            if parent <= 1:
                return False
            pid = parent
        return False

    # -- watchdog -----------------------------------------------------------

    def _arm(self, job: "JobRuntime", r: Readiness) -> None:
        if r.timer:
            r.timer.cancel()
            r.timer = None
        if r.watchdog_usec and r.pid is not None:
            r.timer = self.clock.call_at(self.clock.monotonic() + r.watchdog_usec / 1e6,
                                         self._expired, job, r.pid)

    def _expired(self, job: "JobRuntime", pid: int | None, why: str | None = None) -> None:
        r = self.jobs.get(job)
        if r is None or pid is None or job.machine.pid != pid:
            return
        if r.timer:
            r.timer.cancel()
        r.timer = None
        why = why or f"watchdog timeout ({r.watchdog_usec / 1e6:g} s without WATCHDOG=1)"
        message = f"{why}: SIGABRT"
        log.warning("(%s) %s", job.label, message)
        job.log.event(message)
        job.signal(signal.SIGABRT)
        if job.spec.exit_timeout > 0:
            r.timer = self.clock.call_at(self.clock.monotonic() + job.spec.exit_timeout, self._kill, job, pid)

    def _kill(self, job: "JobRuntime", pid: int) -> None:
        r = self.jobs.get(job)
        if r is None or job.machine.pid != pid:
            return
        r.timer = None
        log.warning("(%s) still running %d s after SIGABRT: SIGKILL", job.label, job.spec.exit_timeout)
        job.log.event("watchdog: SIGKILL")
        job.signal(signal.SIGKILL)

"""The manager: the composition root of a running pylaunchd.

It wires the pieces together, runs the event loop, handles signals and shuts
down, and little else:

* :class:`~pylaunchd.jobtable.JobTable` — which plist is which loaded job;
* :class:`~pylaunchd.runtime.JobRuntime` — one loaded job, carrying out
  what its state machine (:mod:`pylaunchd.job`) decides;
* :class:`~pylaunchd.facts.FactHub` — the world jobs wait on (paths, other
  jobs, the network, mounts), pushed into them as events;
* :class:`~pylaunchd.jobsdir.JobsDirWatcher` — the job directories;
* the control server (:mod:`pylaunchd.control`), given by the caller.

Signals: SIGTERM, SIGINT and SIGPWR stop every job (each by its ExitTimeOut;
clients before the jobs they name, :func:`pylaunchd.pid1.shutdown_waves`),
then close every socket, then the manager; SIGHUP rescans the job directories (and retries plists that
failed to load); SIGUSR2 re-execs the manager, keeping its jobs and sockets
(:mod:`pylaunchd.reexec`); SIGCHLD reaps children and hands each exit to its job, and orphans (the
manager is a child subreaper, or PID 1: :mod:`pylaunchd.pid1`) to
:class:`~pylaunchd.pid1.Orphans`. Readiness messages come in on one socket
(:mod:`pylaunchd.notify`). Time comes from one :class:`~pylaunchd.clock.Clock`
(the loop's, unless a test gives a fake one).

Size: the composition root, one line of wiring per piece; the boot cache's
(:mod:`pylaunchd.bootcache`) took it just past 400 lines.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from typing import Awaitable, Callable

from .boot import Early
from .bootcache import Writer as BootCacheWriter
from .bootspawn import BootAdopter, BootStart
from .bus.hub import BusHub
from .bus.transient import TransientJobs
from .clock import Clock, LoopClock
from .cspawn import trim_heap
from .domain import Domain, Overrides
from .environment import DomainEnvironment
from .facts import FactHub, file_facts
from .jobsdir import JobsDirWatcher
from .jobtable import JobTable
from .jobtypes import ExitStatus
from .notify import NotifySocket
from .reexec.handoff import Handoff, InheritedSockets
from . import pid1
from .runtime import JobContext, JobRuntime
from .sockets import SocketGroup, close_group
from .spawn import spawn_path
from .triggers.system import MountMonitor, NetworkMonitor
from .triggers.pathwatch import PathTriggers
from .watching import SharedObserver

log = logging.getLogger("pylaunchd")

REEXEC_SIGNAL = signal.SIGUSR2  # as nginx's binary upgrade; SIGTERM (systemd's, as PID 1) is the shutdown here
HANDLED = (*pid1.SHUTDOWN_SIGNALS, signal.SIGHUP, signal.SIGCHLD, REEXEC_SIGNAL)

ControlServerFactory = Callable[["Manager"], Awaitable[asyncio.AbstractServer]]


class Manager:
    def __init__(self, domain: Domain, clock: Clock | None = None, exit_with: str | None = None,
                 early: dict[str, Early] | None = None, handoff: Handoff | None = None,
                 inherited: InheritedSockets | None = None, booted: BootStart | None = None):
        self.domain = domain
        self.booted = booted  # the processes boot.py's caller started before the loop (bootspawn)
        self.clock = clock
        self.early = early or {}  # the sockets boot.py bound before the loop (path -> Early)
        self.exit_with = exit_with  # --exit-with: that job's exit ends the manager, with its status
        self.exit_status: int | None = None  # that status, once it exited
        self.killed: list[str] = []  # the jobs a shutdown had to SIGKILL
        self.orphans = pid1.Orphans()
        self.notify: NotifySocket | None = None
        self.mains: dict[str, int] = {}  # label -> its last main PID (orphans of its session)
        self._held: list[SocketGroup] = []  # sockets of jobs removed in a shutdown: closed last
        self._running_at_stop: set[str] = set()
        self._leftovers: dict[int, str] = {}  # in a shutdown: PIDs jobs left behind -> their job
        self.overrides = Overrides(domain.state_dir)
        self.environment = DomainEnvironment()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.table: JobTable | None = None
        self.watcher: JobsDirWatcher | None = None
        self.started: asyncio.Event | None = None  # set once the first scan is loaded
        self._stopped: asyncio.Event | None = None
        self._all_removed: asyncio.Event | None = None
        # Re-exec (pylaunchd.reexec): what the command line holds (control
        # socket's fd, its lock's fd) and the directory it ran from; the
        # handoff and sockets of the re-exec that started this process.
        self.inherit: tuple[int, int] | None = None
        self.control = None  # the control server once it runs (control.server.ControlAccept)
        self.exec_cwd = "/"
        self.handoff, self.inherited = handoff, inherited
        self.reexec_generation = 0  # re-execs so far
        self.reexec_note: str | None = None  # what the last re-exec could not restore
        self.reexec_gap: float | None = None  # seconds from the last exec to the new process restored
        self.helpers: dict[int, Callable[[int], None]] = {}  # pid -> its wait status's reader (not a job's)
        self._reexec = None

    @property
    def shutting_down(self) -> bool:
        return self._stopped is not None and self._stopped.is_set()

    # ------------------------------------------------------------ life cycle

    def _wire(self) -> None:
        """Build the pieces, on the running loop."""
        self.loop = asyncio.get_running_loop()
        self.clock = self.clock or LoopClock(self.loop)
        self.started, self._stopped, self._all_removed = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.observer = SharedObserver(self.loop)  # one watchdog thread for the paths jobs watch, if any
        self.paths = PathTriggers(self.loop, clock=self.clock, observer=self.observer)
        self.network = NetworkMonitor(self.loop, lambda up: self.facts.network_changed(up))
        self.mounts = MountMonitor(self.loop, lambda points: self.facts.mounted(points))
        jobs: dict = {}  # label -> JobRuntime: the table's, which the facts read
        self.facts = FactHub(jobs, self.paths, self.network)
        self.table = JobTable(self.domain, self.overrides, self.facts, self._job_context, jobs)
        self.table.on_empty = self._all_removed.set
        self.table.on_sockets_changed = self._sockets_changed
        self.bus = BusHub(self.domain, jobs, self.clock, self.environment.setenv) if self.domain.bus_address else None
        if self.bus is not None:
            self.table.name_conflict = self.bus.conflict
            self.bus.transient = TransientJobs(self.domain.system, self.table.submit, self.table.unload,
                                               self.bus.own_files)
        self.table.on_removed = self._removed
        self._wave_done = asyncio.Event()
        self._leftovers_gone = asyncio.Event()
        self.watcher = JobsDirWatcher(self.domain.jobs_dirs, self.loop, self.table.reconcile, clock=self.clock)
        self.boot_cache = BootCacheWriter(self.domain, self.clock, self.table.boot_cache_items, after=trim_heap)

    def _job_context(self) -> JobContext:
        table = self.table
        return JobContext(clock=self.clock, loop=self.loop, job_env=self._job_env,
                          child_spawned=table.child_spawned, active_changed=self._job_active,
                          removed=table.removed, sockets_changed=self._sockets_changed, file_facts=file_facts,
                          close_groups=self._close_groups)

    def _job_env(self, spec) -> dict[str, str]:
        env = self.bus.env(spec) if self.bus is not None else {}
        env.update(self.environment.job_env())
        env.update(self.notify.env() if self.notify else {})
        return env

    def _sockets_changed(self, label: str, groups) -> None:
        """A job's definition took effect (groups: its sockets now), or it is gone (None)."""
        self.environment.job_sockets(label, groups)
        self.boot_cache.soon()  # the next start's cache follows the jobs
        if self.bus is not None:
            self.bus.job_changed(label, groups)

    def _job_active(self, label: str, running: bool) -> None:
        self.facts.job_active(label, running)
        job = self.table.find(label)
        if job is not None and self.notify is not None:
            self.notify.job_active(job)
        if job is not None and self.bus is not None:
            self.bus.job_active(job)

    def _close_groups(self, groups: list[SocketGroup]) -> None:
        """A removed job's sockets: closed now, or in a shutdown after the last job."""
        if self.shutting_down:
            self._held += groups
            return
        for g in groups:
            close_group(g)

    def _removed(self, job: JobRuntime) -> None:
        if self.notify is not None:
            self.notify.job_removed(job)
        left = self.orphans.forget(job.label)
        if job.label == self.exit_with and self.exit_status is None and not self.shutting_down:
            last = job.machine.last_exit  # unloaded while it was not running: it will not run again
            self.exit_status = pid1.exit_code(last) if last is not None else 0
            log.info("(%s) unloaded (--exit-with): shutting down with status %d", job.label, self.exit_status)
            self.request_shutdown()
        self.mains.pop(job.label, None)  # else one entry per label ever loaded: jobs come and go for months
        if self.shutting_down:
            self._stop_leftovers(job, left)
            last = job.machine.last_exit
            if job.label in self._running_at_stop and last is not None and last.signal == signal.SIGKILL:
                self.killed.append(job.label)
        self._wave_done.set()

    def _stop_leftovers(self, job: JobRuntime, pids: list[int]) -> None:
        """What a job left behind (it daemonized) stops with it: SIGTERM now,
        SIGKILL after the job's ExitTimeOut (0: never, as for the job)."""
        for pid in pids:
            self._leftovers[pid] = job.label
            _kill(pid, signal.SIGTERM)
        if pids and job.spec.exit_timeout > 0:
            self.clock.call_at(self.clock.monotonic() + job.spec.exit_timeout, self._kill_leftovers, pids)

    def _kill_leftovers(self, pids: list[int]) -> None:
        for pid in pids:
            label = self._leftovers.get(pid)
            if label is None:
                continue
            log.warning("(%s) pid %d it left running did not exit on SIGTERM: SIGKILL", label, pid)
            _kill(pid, signal.SIGKILL)
            if label not in self.killed:
                self.killed.append(label)
        # A process that is not our child (no subreaper) is never reaped here: stop waiting soon.
        self.clock.call_at(self.clock.monotonic() + 1.0, self._leftovers_gone.set)

    def _leftover_reaped(self, pid: int) -> None:
        if self._leftovers.pop(pid, None) is not None and not self._leftovers:
            self._leftovers_gone.set()


    async def run(self, control_server_factory: ControlServerFactory) -> int:
        self._wire()
        os.makedirs(self.domain.state_dir, mode=0o700, exist_ok=True)
        subreaper = pid1.become_subreaper()
        self._open_notify()
        if self.notify is not None and (subreaper or os.getpid() == 1):
            self.notify.move_main = self._move_main
        for sig in pid1.SHUTDOWN_SIGNALS:
            self.loop.add_signal_handler(sig, self.request_shutdown, sig)
        self.loop.add_signal_handler(signal.SIGHUP, self.rescan)
        self.loop.add_signal_handler(signal.SIGCHLD, self._reap)
        self.loop.add_signal_handler(REEXEC_SIGNAL, self._reexec_signal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)  # held across a re-exec's exec
        # A burst of signals fills asyncio's wake-up socket; one byte pending
        # wakes the loop, so a full buffer is no error worth a traceback.
        signal.set_wakeup_fd(signal.set_wakeup_fd(-1), warn_on_full_buffer=False)
        self.network.start()
        self.mounts.start()
        self.watcher.start()
        log.info("pylaunchd %s domain, control socket %s, watching %s; spawn path: %s", self.domain.name,
                 self.domain.control_socket, ", ".join(self.domain.jobs_dirs), spawn_path())
        self._first_scan()
        if self.bus is not None:
            self.bus.started()
        log.info("%d job(s) loaded", len(self.table.jobs))
        if self.exit_with is not None and self.exit_with not in self.table.jobs:
            # A container whose main job is not there would run on forever, saying nothing.
            log.error("--exit-with %s: no such job in %s: shutting down with status 1",
                      self.exit_with, ", ".join(self.domain.jobs_dirs))
            self.exit_status = 1
            self.request_shutdown()
        # The jobs run before the control server is even imported: its
        # socket, bound by the caller, queues pylaunchctl's requests meanwhile.
        server = await control_server_factory(self)
        self.started.set()
        await self._stopped.wait()
        await self._shutdown()
        if self.bus is not None:
            self.bus.close()
        if self.notify is not None:
            self.notify.close()
        server.close()
        for sig in HANDLED:
            self.loop.remove_signal_handler(sig)
        self.watcher.stop()
        self.paths.close()
        self.observer.stop()
        self.network.stop()
        self.mounts.stop()
        if self.exit_status is not None:
            return self.exit_status
        if self.killed and os.getpid() == 1:  # a container's status; elsewhere 0, as it always was
            log.warning("shutdown had to SIGKILL %s: exit status %d", ", ".join(self.killed), pid1.EXIT_KILLED)
            return pid1.EXIT_KILLED
        if self.killed:
            log.warning("shutdown had to SIGKILL %s", ", ".join(self.killed))
        return 0

    def _first_scan(self) -> None:
        """Load the job directories as boot read them; what boot started (bootspawn) or a
        re-exec left running is taken over by its job instead of being started again."""
        restore = self._restore()
        booted = BootAdopter(self.booted) if self.booted is not None else None
        if booted is not None:
            self.table.adopter = booted.adopt
        self.table.adopt(self.early)
        self.early = {}
        self.table.reconcile(self.watcher.scan())
        if restore is not None:
            restore.load_rest()
        self.table.forget_early()
        if booted is not None:
            self.table.adopter, self.booted = None, None
            booted.finish()
            self._reap()  # what exited before its job took it
        if restore is not None:
            restore.finish()
            self._reap()  # what exited during the exec
            self.after_reexec()

    def _restore(self):
        """After a re-exec: what takes the jobs over (pylaunchd.reexec.restore)."""
        if self.handoff is None:
            return None
        from .reexec.restore import Restore
        restore = Restore(self, self.handoff, self.inherited or InheritedSockets([]))
        restore.install()
        return restore

    def after_reexec(self) -> None:
        """The hook for what a re-exec does not hand over, once the jobs are
        back. The bus connection is not handed over (its socket closes at the
        exec): the hub connects again right after this, in ``bus.started()``
        and when the restored bus job reports its main process, as at any
        start; the bus's own listening socket is a job's and is handed over.
        A main process that MAINPID= named is watched again (its pidfd was
        not handed over)."""
        if self.notify is not None and self.notify.move_main is not None:
            for job, r in list(self.notify.jobs.items()):
                if r.main_pid is not None and r.main_pid == job.machine.pid:
                    self._watch_main(job, r.main_pid)

    def reexec(self, requested_at: float | None = None) -> Awaitable[dict]:
        """Write the state and exec the installed code (pylaunchd.reexec.exec);
        the awaitable's result is the reply, ReexecError a refusal."""
        from .reexec.exec import ReExec
        if self._reexec is None:
            self._reexec = ReExec(self)
        return self._reexec.run(requested_at if requested_at is not None else time.monotonic())

    def _reexec_signal(self) -> None:
        log.info("received SIGUSR2: re-exec")
        task = self.loop.create_task(self.reexec())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # a refusal is logged already

    def _open_notify(self) -> None:
        notify = NotifySocket(NotifySocket.address_for(self.domain.control_socket), self.loop, self.clock,
                              lambda: self.table.pids)
        try:
            notify.open(self.handoff.notify_fd if self.handoff is not None
                        else self.booted.take_notify() if self.booted is not None else None)
        except OSError as e:
            log.warning("notify socket %s: %s; jobs get no NOTIFY_SOCKET", notify.address, e)
            return
        self.notify = notify

    def _move_main(self, job: JobRuntime, pid: int) -> bool:
        """MAINPID=: *pid* is the job's main process from now on. It is
        watched (a pidfd) as well as reaped: a process whose own parent
        reaps it (a wrapper that waits for the daemon it started) never
        reaches the manager's waitpid, and its job would run on forever."""
        if not job.main_moved(pid):
            return False
        self._watch_main(job, pid)
        return True

    def _watch_main(self, job: JobRuntime, pid: int) -> None:
        try:
            fd = os.pidfd_open(pid)
        except OSError:  # gone already (or no pidfd here): look once, soon
            self.loop.call_soon(self._main_gone, job, pid, None)
            return
        self.loop.add_reader(fd, self._main_gone, job, pid, fd)

    def _main_gone(self, job: JobRuntime, pid: int, fd: int | None) -> None:
        """The process MAINPID= named has exited: if it is not the manager's
        child to reap, its exit is the job's now, with a status unknown (0)."""
        if fd is not None:
            self.loop.remove_reader(fd)
            os.close(fd)
        if job.machine.pid != pid or self.table.pids.get(pid) is not job:
            return  # reaped already, or the job moved on
        if pid1.parent_of(pid) == os.getpid():
            return  # a zombie of ours: reaped as any child, with its status
        log.info("(%s) main process pid %d (MAINPID=) exited and was reaped by its own parent: "
                 "its exit status is unknown (0)", job.label, pid)
        self._reaped(pid, 0)

    def request_shutdown(self, sig: int | None = None) -> None:
        if self.shutting_down:
            return
        log.info("received %s: stopping every job", signal.Signals(sig).name if sig else "shutdown request")
        self.table.closing = True
        if self.bus is not None:
            self.bus.closing = True  # the bus job stops too: no reconnecting
        self._stopped.set()

    async def _shutdown(self) -> None:
        """Every job stops by its ExitTimeOut, all at once but for clients,
        which go first (pid1.shutdown_waves); the sockets close after the last."""
        table = self.table
        for wave in pid1.shutdown_waves({label: job.spec for label, job in table.jobs.items()}):
            jobs = [table.jobs[label] for label in wave if label in table.jobs]
            log.info("shutdown: stopping %s", ", ".join(wave))
            self._running_at_stop |= {j.label for j in jobs if j.machine.pid is not None}
            for job in jobs:
                job.unload()
            # Each job is removed once its processes have exited (SIGKILL
            # follows SIGTERM after its ExitTimeOut, unless that is 0).
            while any(table.jobs.get(j.label) is j for j in jobs):
                self._wave_done.clear()
                await self._wave_done.wait()
        for label in list(table.jobs):  # loaded meanwhile
            table.unload(label)
        if table.jobs:
            await self._all_removed.wait()
        if self._leftovers:  # the processes jobs left behind, on their way out
            await self._leftovers_gone.wait()
        for group in self._held:
            close_group(group)
        self._held.clear()

    def rescan(self) -> None:
        log.info("SIGHUP: rescanning %s", ", ".join(self.domain.jobs_dirs))
        table = self.table
        paths = self.watcher.scan() | {p for p in table.by_path if os.path.dirname(p) in self.watcher.dirs}
        table.reconcile(paths)

    def _reap(self) -> None:
        # What jobs said before they exited counts first (MAINPID= of the
        # child a daemon forked, then its parent's exit), as systemd reads
        # notifications before SIGCHLD.
        if self.notify is not None:
            self.notify.drain()
        scan = False
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            if pid == 0:
                break
            scan = self._reaped(pid, status) or scan
        if scan:
            self.orphans.scan(self.table.pids, lambda: {label: job.machine.pid or self.mains.get(label)
                                                        for label, job in self.table.jobs.items()})

    def _reaped(self, pid: int, status: int) -> bool:
        """Hand one exit on; True when orphans may have been left (a main process, an orphan)."""
        helper = self.helpers.pop(pid, None)
        if helper is not None:
            helper(status)
            return False
        job = self.table.pids.get(pid)
        if job is None:  # reparented to us (PID 1, or a subreaper), or a job's already gone
            self.orphans.orphan_reaped(pid, status)
            self._leftover_reaped(pid)
            return True
        main = pid == job.machine.pid
        if main and job.label == self.exit_with and self.exit_status is None:
            self.exit_status = pid1.exit_code(ExitStatus.from_wait_status(status))
            log.info("(%s) exited (--exit-with): shutting down with status %d", job.label, self.exit_status)
            self.request_shutdown()
            job.unload()  # not restarted by KeepAlive: it is the container's main process
        self.table.reaped(pid, status)
        if main:
            self.mains[job.label] = pid
        return main


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

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

Signals: SIGTERM and SIGINT stop every job (each by its ExitTimeOut) and
then the manager; SIGHUP rescans the job directories (and retries plists that
failed to load); SIGCHLD reaps children and hands each exit to its job.
Time comes from one :class:`~pylaunchd.clock.Clock` (the loop's, unless a
test gives a fake one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Awaitable, Callable

from .boot import Early
from .clock import Clock, LoopClock
from .domain import Domain, Overrides
from .environment import DomainEnvironment
from .facts import FactHub, file_facts
from .jobsdir import JobsDirWatcher
from .jobtable import JobTable
from .runtime import JobContext
from .triggers.system import MountMonitor, NetworkMonitor
from .triggers.pathwatch import PathTriggers
from .watching import SharedObserver

log = logging.getLogger("pylaunchd")

ControlServerFactory = Callable[["Manager"], Awaitable[asyncio.AbstractServer]]


class Manager:
    def __init__(self, domain: Domain, clock: Clock | None = None, early: dict[str, Early] | None = None):
        self.domain = domain
        self.clock = clock
        self.early = early or {}  # the sockets boot.py bound before the loop (path -> Early)
        self.overrides = Overrides(domain.state_dir)
        self.environment = DomainEnvironment()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.table: JobTable | None = None
        self.watcher: JobsDirWatcher | None = None
        self.started: asyncio.Event | None = None  # set once the first scan is loaded
        self._stopped: asyncio.Event | None = None
        self._all_removed: asyncio.Event | None = None

    @property
    def shutting_down(self) -> bool:
        return self._stopped is not None and self._stopped.is_set()

    # ------------------------------------------------------------ life cycle

    def _wire(self) -> None:
        """Build the pieces, on the running loop."""
        self.loop = asyncio.get_running_loop()
        self.clock = self.clock or LoopClock(self.loop)
        self.started, self._stopped, self._all_removed = asyncio.Event(), asyncio.Event(), asyncio.Event()
        self.observer = SharedObserver(self.loop)  # one watchdog thread for job directories and paths
        self.paths = PathTriggers(self.loop, clock=self.clock, observer=self.observer)
        self.network = NetworkMonitor(self.loop, lambda up: self.facts.network_changed(up))
        self.mounts = MountMonitor(self.loop, lambda points: self.facts.mounted(points))
        jobs: dict = {}  # label -> JobRuntime: the table's, which the facts read
        self.facts = FactHub(jobs, self.paths, self.network)
        self.table = JobTable(self.domain, self.overrides, self.facts, self._job_context, jobs)
        self.table.on_empty = self._all_removed.set
        self.table.on_sockets_changed = self.environment.job_sockets
        self.watcher = JobsDirWatcher(self.domain.jobs_dirs, self.loop, self.table.reconcile,
                                      clock=self.clock, observer=self.observer)

    def _job_context(self) -> JobContext:
        table = self.table
        return JobContext(clock=self.clock, loop=self.loop, job_env=self.environment.job_env,
                          child_spawned=table.child_spawned, active_changed=self.facts.job_active,
                          removed=table.removed, sockets_changed=self.environment.job_sockets,
                          file_facts=file_facts)

    async def run(self, control_server_factory: ControlServerFactory) -> int:
        self._wire()
        os.makedirs(self.domain.state_dir, mode=0o700, exist_ok=True)
        server = await control_server_factory(self)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.request_shutdown, sig)
        self.loop.add_signal_handler(signal.SIGHUP, self.rescan)
        self.loop.add_signal_handler(signal.SIGCHLD, self._reap)
        self.network.start()
        self.mounts.start()
        self.watcher.start()
        log.info("pylaunchd %s domain, control socket %s, watching %s", self.domain.name,
                 self.domain.control_socket, ", ".join(self.domain.jobs_dirs))
        self.table.adopt(self.early)
        self.early = {}
        self.table.reconcile(self.watcher.scan())
        self.table.forget_early()
        log.info("%d job(s) loaded", len(self.table.jobs))
        self.started.set()
        await self._stopped.wait()
        await self._shutdown()
        server.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
            self.loop.remove_signal_handler(sig)
        self.watcher.stop()
        self.paths.close()
        self.observer.stop()
        self.network.stop()
        self.mounts.stop()
        return 0

    def request_shutdown(self, sig: int | None = None) -> None:
        if self.shutting_down:
            return
        log.info("received %s: stopping every job", signal.Signals(sig).name if sig else "shutdown request")
        self.table.closing = True
        self._stopped.set()

    async def _shutdown(self) -> None:
        for label in list(self.table.jobs):
            self.table.unload(label)
        # Each job is removed once its processes have exited (SIGKILL follows
        # SIGTERM after its ExitTimeOut, unless that is 0).
        if self.table.jobs:
            await self._all_removed.wait()

    def rescan(self) -> None:
        log.info("SIGHUP: rescanning %s", ", ".join(self.domain.jobs_dirs))
        table = self.table
        paths = self.watcher.scan() | {p for p in table.by_path if os.path.dirname(p) in self.watcher.dirs}
        table.reconcile(paths)

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:
                return
            self.table.reaped(pid, status)

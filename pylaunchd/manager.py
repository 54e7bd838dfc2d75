"""The manager's event loop: the one place with side effects.

It owns the loaded jobs, their sockets, their processes and their timers. It
turns kernel events (socket readable, child exited, plist changed, timer,
control request, signal) into events for a job's state machine
(:mod:`pylaunchd.job`) and carries out the actions the machine returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import os
import select
import signal
import socket
import time
from dataclasses import dataclass, field

from . import job as J
from .control.listener import bind_control_socket, lock_control_socket  # noqa: F401 - moved; cli/manager.py imports it here
from .control.protocol import (EXIT_BAD_PERMISSIONS, EXIT_DISABLED, EXIT_INVALID_PLIST, EXIT_IO,
                               EXIT_NO_SERVICE, EXIT_NO_SUCH_PROCESS, EXIT_WRONG_SESSION, ControlError)
from .domain import Domain, Overrides
from .joblog import JobLog, log_path
from .jobsdir import JobsDirWatcher
from .plist import PlistError, is_plist_name
from .sockets import SocketError, SocketGroup, close_group, create_groups, exported_environment
from .spawn import spawn
from .system_events import MountMonitor, NetworkMonitor
from .triggers import PATH_STATE, QUEUE_DIRECTORIES, WATCH_PATHS, PathTriggers, exists, is_nonempty
from . import calendar
from .spec import JobSpec, SpecError, label_from_file, load_spec, validate

log = logging.getLogger("pylaunchd")


@dataclass
class Managed:
    """A loaded job: its state machine plus what the loop holds for it."""

    machine: J.Job
    groups: list[SocketGroup]
    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    readers: list[int] = field(default_factory=list)
    spawn_error: str | None = None
    spawn_warnings: list[str] = field(default_factory=list)
    calendar_at: datetime.datetime | None = None  # next StartCalendarInterval firing (local time)
    log: JobLog | None = None
    pipes: set[int] = field(default_factory=set)  # read ends of the job's output pipes

    @property
    def spec(self) -> JobSpec:
        return self.machine.spec

    def flat_sockets(self):
        return [(g.name, b) for g in self.groups for b in g.sockets]


class Manager:
    def __init__(self, domain: Domain):
        self.domain = domain
        self.jobs: dict[str, Managed] = {}
        self.by_path: dict[str, str] = {}  # plist path -> label
        self.pids: dict[int, str] = {}  # pid -> label
        self.deferred: dict[str, tuple[str, bool]] = {}  # label -> (path, force): load after removal
        self.exported: dict[str, str] = {}  # SecureSocketWithKey variables, for every job of the domain
        self.user_env: dict[str, str] = {}  # pylaunchctl setenv: for jobs started from now on
        self._pending_loads: list[Managed] | None = None  # jobs whose start waits for a batch of loads
        self.overrides = Overrides(domain.state_dir)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.watcher: JobsDirWatcher | None = None
        self.paths: PathTriggers | None = None
        self.network: NetworkMonitor | None = None
        self.mounts: MountMonitor | None = None
        self.shutting_down = False
        self._stopped: asyncio.Event | None = None
        self._all_removed: asyncio.Event | None = None

    # ------------------------------------------------------------------ time

    def now(self) -> float:
        assert self.loop is not None
        return self.loop.time()

    # ------------------------------------------------------------ life cycle

    async def run(self, control_server_factory) -> int:
        self.loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self._all_removed = asyncio.Event()
        os.makedirs(self.domain.state_dir, mode=0o700, exist_ok=True)
        server = await control_server_factory(self)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.request_shutdown, sig)
        self.loop.add_signal_handler(signal.SIGHUP, self.rescan)
        self.loop.add_signal_handler(signal.SIGCHLD, self._reap)
        self.paths = PathTriggers(self.loop)
        self.network = NetworkMonitor(self.loop, self._network_changed)
        self.network.start()
        self.mounts = MountMonitor(self.loop, self._mounted)
        self.mounts.start()
        self.watcher = JobsDirWatcher(self.domain.jobs_dirs, self.loop, self.sync_paths)
        self.watcher.start()
        log.info("pylaunchd %s domain, control socket %s, watching %s", self.domain.name,
                 self.domain.control_socket, ", ".join(self.domain.jobs_dirs))
        self.sync_paths(self.watcher.scan())
        log.info("%d job(s) loaded", len(self.jobs))
        await self._stopped.wait()
        await self._shutdown()
        server.close()
        self.watcher.stop()
        self.paths.close()
        self.network.stop()
        self.mounts.stop()
        return 0

    def request_shutdown(self, sig: int | None = None) -> None:
        if self.shutting_down:
            return
        log.info("received %s: stopping every job", signal.Signals(sig).name if sig else "shutdown request")
        self.shutting_down = True
        assert self._stopped is not None
        self._stopped.set()

    async def _shutdown(self) -> None:
        for label in list(self.jobs):
            self.unload(label)
        # Each job is removed once its processes have exited (SIGKILL follows
        # SIGTERM after its ExitTimeOut, unless that is 0).
        if self.jobs:
            await self._all_removed.wait()

    def rescan(self) -> None:
        log.info("SIGHUP: rescanning %s", ", ".join(self.domain.jobs_dirs))
        assert self.watcher is not None
        paths = self.watcher.scan() | {p for p in self.by_path if os.path.dirname(p) in self.watcher.dirs}
        self.sync_paths(paths)

    # --------------------------------------------------------- loading jobs

    def sync_paths(self, paths: set[str]) -> None:
        """Bring the loaded jobs in line with these plist paths of watched directories."""
        if self.shutting_down:
            return
        expanded: set[str] = set()
        for p in paths:
            if p.endswith(os.sep):
                expanded |= {q for q in self.by_path if os.path.dirname(q) == p.rstrip(os.sep)}
            else:
                expanded.add(p)
        gone = {p for p in expanded if p in self.by_path and not os.path.exists(p)}
        present = sorted(p for p in expanded if os.path.isfile(p) and is_plist_name(p))
        # A plist renamed within the watched directories keeps its job.
        for p in present:
            label = label_from_file(p)
            for old in list(gone):
                if self.by_path.get(old) == label:
                    gone.discard(old)
                    del self.by_path[old]
                    self.by_path[p] = label
                    log.info("(%s) plist moved from %s to %s", label, old, p)
        for p in sorted(gone):
            label = self.by_path.pop(p)
            log.info("(%s) %s was removed: unloading", label, p)
            self.unload(label)
        # Create the sockets of every job in the batch before any of them
        # starts, so that a job finds every socket (and every exported
        # SecureSocketWithKey variable) of the domain already there.
        with self.batch():
            for p in present:
                try:
                    self.load_path(p, from_dir=True)
                except ControlError:
                    pass  # already logged with the file and the reason

    @contextlib.contextmanager
    def batch(self):
        """Load several jobs: every socket is created before any job starts."""
        if self._pending_loads is not None:  # already in a batch
            yield
            return
        self._pending_loads = []
        try:
            yield
        finally:
            pending, self._pending_loads = self._pending_loads, None
            for managed in pending:
                if self.jobs.get(managed.spec.label) is managed:
                    self._start_loaded(managed)

    def load_path(self, path: str, force: bool = False, from_dir: bool = False,
                  enable: bool = False) -> str:
        """Load or reload the job in *path*. Returns its label; raises ControlError."""
        path = os.path.abspath(path)
        problem = None if force else self.domain.file_problem(path)
        if problem:
            log.error("%s: not loaded: %s", path, problem)
            raise ControlError(f"{path}: Path had bad ownership/permissions: {problem}", EXIT_BAD_PERMISSIONS)
        try:
            spec = self.domain.admit(load_spec(path))
        except (PlistError, SpecError) as e:
            if path in self.by_path:
                log.error("%s; keeping the version already loaded", e)
            else:
                log.error("%s; not loaded", e)
            raise ControlError(str(e), EXIT_INVALID_PLIST) from None
        for w in spec.warnings:
            log.warning("(%s) %s: %s", spec.label, path, w)
        excluded = self.domain.load_filter(spec, socket.gethostname())
        if excluded:
            log.info("(%s) %s: not loaded: %s", spec.label, path, excluded)
            if spec.label in self.jobs and self.jobs[spec.label].spec.path == path:
                self.unload(spec.label)
            raise ControlError(f"{path}: Service cannot load in requested session: {excluded}", EXIT_WRONG_SESSION)
        if enable:
            self.overrides.set_disabled(spec.label, False)
        if self.overrides.is_disabled(spec.label, spec.disabled) and not force:
            if spec.label in self.jobs and self.jobs[spec.label].spec.path == path:
                log.info("(%s) now disabled: unloading", spec.label)
                self.unload(spec.label)
            else:
                log.info("(%s) %s is disabled; not loaded (enable it with `pylaunchctl load -w %s`)",
                         spec.label, path, path)
            raise ControlError(f"{path}: {spec.label} is disabled: enable it with `pylaunchctl enable "
                               f"{self.domain.name}/{spec.label}` (or load it with -w to enable it, "
                               f"-F to load it once)", EXIT_DISABLED)
        old_label = self.by_path.get(path)
        if old_label is not None and old_label != spec.label:
            log.info("(%s) %s now defines %s: unloading the old label", old_label, path, spec.label)
            del self.by_path[path]
            self.unload(old_label)
        existing = self.jobs.get(spec.label)
        if existing is not None:
            if existing.spec.path != path and self.by_path.get(path) != spec.label:
                raise ControlError(f"{path}: {spec.label} is already loaded from {existing.spec.path}",
                                   EXIT_IO)
            if existing.machine.removing:
                self.deferred[spec.label] = (path, force)
                log.info("(%s) will load again once its previous instance has exited", spec.label)
                return spec.label
            if not from_dir:
                raise ControlError(f"{path}: service already loaded ({spec.label})", EXIT_IO)
            self._reload(existing, spec)
            self.by_path[path] = spec.label
            return spec.label
        self._add_job(spec, path)
        return spec.label

    def _add_job(self, spec: JobSpec, path: str | None) -> Managed:
        """Create a new job's sockets and start it by its keys (at the end of
        the batch, if one is open). *path* is None for a submitted job."""
        where = path or spec.label
        try:
            groups = create_groups(spec.sockets)
        except SocketError as e:
            log.error("(%s) %s: %s; not loaded", spec.label, where, e)
            raise ControlError(f"{where}: {e}", EXIT_IO) from None
        managed = Managed(J.Job(spec), groups, log=JobLog(log_path(self.domain.state_dir, spec.label)))
        for w in spec.warnings:
            managed.log.event(f"warning: {w}")
        self.jobs[spec.label] = managed
        if path is not None:
            self.by_path[path] = spec.label
        log.info("(%s) %s%s", spec.label, f"loaded from {path}" if path else "submitted",
                 self._socket_summary(managed))
        self._update_exported()
        if self._pending_loads is not None:
            self._pending_loads.append(managed)
        else:
            self._start_loaded(managed)
        return managed

    def _start_loaded(self, managed: Managed) -> None:
        self._arm_triggers(managed, managed.spec)
        self._execute(managed, managed.machine.load(self.now()))
        self._tell_dependents(f"loaded:{managed.spec.label}", True)

    def _update_exported(self) -> None:
        exported: dict[str, str] = {}
        for m in self.jobs.values():
            exported.update(exported_environment(m.groups))
        if exported != self.exported:
            for k in set(exported) | set(self.exported):
                if exported.get(k) != self.exported.get(k):
                    log.info("domain environment: %s=%s", k, exported.get(k, "(unset)"))
            self.exported = exported

    def _reload(self, managed: Managed, spec: JobSpec) -> None:
        if spec == managed.spec:
            managed.machine.spec = spec  # same job; its path or warnings may differ
            return
        log.info("(%s) reloading from %s", spec.label, spec.path)
        managed.log.event(f"reloading from {spec.path}")
        self._arm_triggers(managed, spec)
        self._execute(managed, managed.machine.reload(spec, self.now()))

    def _swap_sockets(self, managed: Managed) -> bool:
        """Carry out SwapSockets; on failure the job is unloaded (False)."""
        spec = managed.spec
        keep = {g.name: g for g in managed.groups if g.spec in spec.sockets}
        self._unwatch(managed)
        for g in managed.groups:
            if keep.get(g.name) is not g:
                close_group(g)
        try:
            managed.groups = create_groups(spec.sockets, keep)
        except SocketError as e:
            managed.groups = list(keep.values())
            log.error("(%s) %s: %s; unloading the job", spec.label, spec.path, e)
            self._execute(managed, managed.machine.unload(self.now()))
            return False
        if managed.groups:
            log.info("(%s) sockets now%s", spec.label, self._socket_summary(managed)[len("; sockets"):])
        self._update_exported()
        return True

    def unload(self, label: str) -> None:
        managed = self.jobs.get(label)
        if managed is None:
            return
        self._execute(managed, managed.machine.unload(self.now()))

    def _remove(self, managed: Managed) -> None:
        label = managed.spec.label
        self._unwatch(managed)
        for t in managed.timers.values():
            t.cancel()
        managed.timers.clear()
        for g in managed.groups:
            close_group(g)
        managed.groups = []
        for rfd in list(managed.pipes):
            self._job_output(managed, rfd)  # what is left in the pipe
            self._close_pipe(managed, rfd)
        managed.log.event("unloaded")
        managed.log.close()
        if self.jobs.get(label) is managed:
            del self.jobs[label]
        if self.shutting_down and not self.jobs:
            self._all_removed.set()
        self._update_exported()
        for p, l in list(self.by_path.items()):
            if l == label and p == managed.spec.path and not os.path.exists(p):
                del self.by_path[p]
        self.paths.unwatch(label)
        log.info("(%s) unloaded", label)
        self._tell_dependents(f"loaded:{label}", False)
        deferred = self.deferred.pop(label, None)
        if deferred and not self.shutting_down:
            try:
                self.load_path(deferred[0], force=deferred[1], from_dir=True)
            except ControlError:
                pass

    @staticmethod
    def _socket_summary(managed: Managed) -> str:
        if not managed.groups:
            return ""
        parts = [f"{name}={b.address_text()}" for name, b in managed.flat_sockets()]
        return "; sockets " + ", ".join(parts)

    # ------------------------------------------------------- carrying out

    def _execute(self, managed: Managed, actions: list) -> None:
        for act in actions:
            if isinstance(act, J.SwapSockets):
                if not self._swap_sockets(managed):
                    return  # the job was unloaded instead; what followed no longer applies
                continue
            try:
                self._do(managed, act)
            except Exception:
                log.exception("(%s) failed to carry out %r", managed.spec.label, act)

    def _do(self, managed: Managed, act) -> None:
        label = managed.spec.label
        if isinstance(act, J.Log):
            getattr(log, act.level)("(%s) %s", label, act.message)
            if managed.log and act.level != "debug":
                managed.log.event(act.message)
        elif isinstance(act, J.Spawn):
            self._spawn(managed, act)
        elif isinstance(act, J.AcceptAndSpawn):
            self._accept_and_spawn(managed, act.index)
        elif isinstance(act, J.Kill):
            try:
                os.kill(act.pid, act.signal)
            except ProcessLookupError:
                pass
        elif isinstance(act, J.KillGroup):
            try:
                os.killpg(act.pgid, act.signal)
            except (ProcessLookupError, PermissionError):
                pass
        elif isinstance(act, J.WatchSockets):
            self._watch(managed)
        elif isinstance(act, J.IgnoreSockets):
            self._unwatch(managed)
        elif isinstance(act, J.SetTimer):
            old = managed.timers.pop(act.name, None)
            if old:
                old.cancel()
            managed.timers[act.name] = self.loop.call_at(act.at, self._timer_fired, managed, act.name)
        elif isinstance(act, J.CancelTimer):
            old = managed.timers.pop(act.name, None)
            if old:
                old.cancel()
        elif isinstance(act, J.Remove):
            self._remove(managed)
        else:  # pragma: no cover
            raise TypeError(f"unknown action {act!r}")

    def _timer_fired(self, managed: Managed, name: str) -> None:
        managed.timers.pop(name, None)
        self._execute(managed, managed.machine.timer(name, self.now()))

    def _spawn(self, managed: Managed, act: J.Spawn) -> None:
        spec = managed.spec
        flat = managed.flat_sockets()
        stdio = flat[act.stdio_socket][1].sock if act.stdio_socket is not None and flat else None
        listen = [] if stdio is not None else [(name, b.sock) for name, b in flat]
        rfd, wfd = self._output_pipe(managed) if stdio is None else (None, None)
        try:
            result = spawn(spec, listen, stdio, extra_env=self.job_env(), log_fd=wfd)
        except OSError as e:
            if rfd is not None:
                self._close_pipe(managed, rfd)
            log.error("(%s) could not fork: %s", spec.label, e.strerror)
            managed.spawn_error = f"fork failed: {e.strerror}"
            self._execute(managed, managed.machine.spawn_failed(self.now()))
            return
        finally:
            if wfd is not None:
                os.close(wfd)
        self.pids[result.pid] = spec.label
        managed.spawn_error = result.error
        managed.spawn_warnings = result.warnings
        for w in result.warnings:
            log.warning("(%s) %s", spec.label, w)
        if result.error:
            log.error("(%s) %s", spec.label, result.error)
        log.info("(%s) started pid %d (%s)", spec.label, result.pid, act.reason)
        managed.log.event(f"started pid {result.pid} ({act.reason})")
        for w in result.warnings:
            managed.log.event(f"warning: {w}")
        if result.error:
            managed.log.event(f"spawn error: {result.error}")
        self._execute(managed, managed.machine.spawned(result.pid, self.now()))
        self._tell_dependents(f"active:{spec.label}", True)

    def _accept_and_spawn(self, managed: Managed, index: int) -> None:
        flat = managed.flat_sockets()
        if index >= len(flat):
            return
        bound = flat[index][1]
        # The listening socket is blocking (as handed to jobs, and the flag is
        # shared by every copy): make sure a connection is really pending so
        # that accept() cannot block the loop.
        if not select.select([bound.sock], [], [], 0)[0]:
            return
        try:
            conn, addr = bound.sock.accept()
        except InterruptedError:
            return
        except OSError as e:
            log.warning("(%s) accept failed: %s", managed.spec.label, e.strerror)
            return
        bound.accepted += 1
        env = self.job_env()
        if isinstance(addr, tuple) and len(addr) >= 2:
            env.update(REMOTE_ADDR=str(addr[0]), REMOTE_PORT=str(addr[1]))
        try:
            result = spawn(managed.spec, [], conn, extra_env=env)
        except OSError as e:
            log.error("(%s) could not fork for a connection: %s", managed.spec.label, e.strerror)
            return
        finally:
            conn.close()
        self.pids[result.pid] = managed.spec.label
        if result.error:
            managed.spawn_error = result.error
            log.error("(%s) %s", managed.spec.label, result.error)
        log.debug("(%s) connection from %s: started pid %d", managed.spec.label, addr, result.pid)
        peer = f"{addr[0]}:{addr[1]}" if isinstance(addr, tuple) and len(addr) >= 2 else "a local peer"
        name = flat[index][0]
        self._execute(managed, managed.machine.instance_spawned(
            result.pid, self.now(), f"socket {name}: connection from {peer}"))

    def _output_pipe(self, managed: Managed) -> tuple[int | None, int | None]:
        """A pipe for the job's stdout/stderr when its plist names no file."""
        spec = managed.spec
        if spec.stdout_path is not None and spec.stderr_path is not None:
            return None, None
        rfd, wfd = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        managed.pipes.add(rfd)
        self.loop.add_reader(rfd, self._job_output, managed, rfd)
        return rfd, wfd

    def _job_output(self, managed: Managed, rfd: int) -> None:
        try:
            data = os.read(rfd, 65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            managed.log.output(data)
        else:  # every writer is gone
            self._close_pipe(managed, rfd)

    def _close_pipe(self, managed: Managed, rfd: int) -> None:
        if rfd in managed.pipes:
            managed.pipes.discard(rfd)
            self.loop.remove_reader(rfd)
            os.close(rfd)

    def _watch(self, managed: Managed) -> None:
        self._unwatch(managed)
        for index, (name, b) in enumerate(managed.flat_sockets()):
            fd = b.fileno()
            self.loop.add_reader(fd, self._readable, managed, index, name)
            managed.readers.append(fd)

    def _unwatch(self, managed: Managed) -> None:
        for fd in managed.readers:
            self.loop.remove_reader(fd)
        managed.readers.clear()

    def _readable(self, managed: Managed, index: int, name: str) -> None:
        actions = managed.machine.socket_readable(index, name, self.now())
        if any(isinstance(a, (J.Spawn, J.AcceptAndSpawn)) for a in actions):
            bound = managed.flat_sockets()[index][1]
            bound.triggers += 1
            bound.last_trigger = time.time()
        self._execute(managed, actions)

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
            label = self.pids.pop(pid, None)
            managed = self.jobs.get(label) if label else None
            if managed is None:
                continue
            exit = J.ExitStatus.from_wait_status(status)
            for rfd in list(managed.pipes):  # read what it wrote before it died
                self._job_output(managed, rfd)
            was_main = pid == managed.machine.pid
            if was_main:
                self._refresh_conditions(managed)
            self._execute(managed, managed.machine.exited(pid, exit, self.now()))
            if was_main:
                self._tell_dependents(f"active:{label}", managed.machine.pid is not None)

    # ------------------------------------------------------------ triggers

    def _arm_triggers(self, managed: Managed, spec: JobSpec) -> None:
        """Watch what *spec*'s launch events and KeepAlive conditions depend
        on, and give its state machine the current facts."""
        label = spec.label
        self.paths.unwatch(label)
        if spec.watch_paths:
            self.paths.watch(label, spec.watch_paths, WATCH_PATHS, lambda changed: self._execute(
                managed, managed.machine.trigger(f"WatchPaths {changed[0]}", self.now())))
        if spec.queue_directories:
            self.paths.watch(label, spec.queue_directories, QUEUE_DIRECTORIES, lambda changed: self._execute(
                managed, managed.machine.condition("queue", self._queue_nonempty(spec), self.now())))
        if spec.keep_alive.path_state:
            def path_changed(changed: list[str]) -> None:
                for p in changed:
                    self._execute(managed, managed.machine.condition(f"path:{p}", exists(p), self.now()))
            self.paths.watch(label, [p for p, _ in spec.keep_alive.path_state], PATH_STATE, path_changed)
        facts = managed.machine.conditions
        facts.clear()
        self._refresh_conditions(managed, spec)
        ka = spec.keep_alive
        for other, _ in ka.other_job_enabled:
            facts[f"loaded:{other}"] = other in self.jobs and not self.jobs[other].machine.removing
        for other, _ in ka.other_job_active:
            facts[f"active:{other}"] = other in self.jobs and self.jobs[other].machine.pid is not None
        if ka.network_state is not None:
            facts["network"] = self.network.up
        old = managed.timers.pop("calendar", None)
        if old:
            old.cancel()
        managed.calendar_at = None
        if spec.start_calendar:
            managed.calendar_at = calendar.next_fire(spec.start_calendar, datetime.datetime.now())
            self._arm_calendar(managed)

    @staticmethod
    def _queue_nonempty(spec: JobSpec) -> bool:
        return any(is_nonempty(d) for d in spec.queue_directories)

    def _refresh_conditions(self, managed: Managed, spec: JobSpec | None = None) -> None:
        """Re-read the file-system facts (cheap stats) before a decision."""
        spec = spec or managed.spec
        facts = managed.machine.conditions
        if spec.queue_directories:
            facts["queue"] = self._queue_nonempty(spec)
        for p, _ in spec.keep_alive.path_state:
            facts[f"path:{p}"] = exists(p)

    def _tell_dependents(self, fact: str, value: bool) -> None:
        """Another job was loaded, unloaded, started or stopped."""
        kind, _, label = fact.partition(":")
        for m in list(self.jobs.values()):
            ka = m.spec.keep_alive
            pairs = ka.other_job_enabled if kind == "loaded" else ka.other_job_active
            if any(other == label for other, _ in pairs):
                self._execute(m, m.machine.condition(fact, value, self.now()))

    def _network_changed(self, up: bool) -> None:
        for m in list(self.jobs.values()):
            if m.spec.keep_alive.network_state is not None:
                self._execute(m, m.machine.condition("network", up, self.now()))

    def _mounted(self, points: list[str]) -> None:
        for m in list(self.jobs.values()):
            if m.spec.start_on_mount:
                self._execute(m, m.machine.trigger(f"StartOnMount {points[0]}", self.now()))

    def _arm_calendar(self, managed: Managed) -> None:
        """Timers run on the monotonic clock, which stops during suspend: wake
        up at least every minute to compare with the wall clock, so firings
        missed while asleep start the job once on resume (as launchd)."""
        deadline = calendar.monotonic_deadline(managed.calendar_at, datetime.datetime.now(), self.now())
        managed.timers["calendar"] = self.loop.call_at(deadline, self._calendar_tick, managed)

    def _calendar_tick(self, managed: Managed) -> None:
        managed.timers.pop("calendar", None)
        if self.jobs.get(managed.spec.label) is not managed or managed.machine.removing:
            return
        wall = datetime.datetime.now()
        at = managed.calendar_at
        if at is not None and calendar.is_due(at, wall):
            managed.calendar_at = calendar.next_fire(managed.spec.start_calendar, wall)
            self._execute(managed, managed.machine.trigger("StartCalendarInterval", self.now()))
        self._arm_calendar(managed)

    # ------------------------------------------------------------- queries

    def find(self, label: str) -> Managed:
        managed = self.jobs.get(label)
        if managed is None:
            raise ControlError(f'Could not find service "{label}" in domain {self.domain.name}',
                               EXIT_NO_SERVICE)
        return managed

    def job_env(self) -> dict[str, str]:
        """What the domain adds to every job's environment (the job's own
        EnvironmentVariables still win)."""
        return {**self.user_env, **self.exported}

    def start(self, label: str) -> None:
        managed = self.find(label)
        self._execute(managed, managed.machine.start(self.now()))

    def set_enabled(self, label: str, enabled: bool) -> None:
        """launchctl enable/disable: the persistent override. Neither stops a
        running job; enabling a job whose plist sits in a watched directory
        loads it, since that directory is what the domain should run."""
        self.overrides.set_disabled(label, not enabled)
        if not enabled or label in self.jobs or self.watcher is None:
            return
        for path in sorted(self.watcher.scan()):
            if label_from_file(path) == label:
                try:
                    self.load_path(path, from_dir=True)
                except ControlError:
                    pass  # logged
                return

    def kickstart(self, label: str, kill: bool = False) -> Managed:
        managed = self.find(label)
        self._execute(managed, managed.machine.kickstart(self.now(), kill))
        return managed

    def send_signal(self, label: str, sig: int) -> list[int]:
        managed = self.find(label)
        actions = managed.machine.signal(sig)
        if not actions:
            raise ControlError("No process to signal.", EXIT_NO_SUCH_PROCESS)
        self._execute(managed, actions)
        return [a.pid for a in actions]

    def submit(self, raw: dict) -> str:
        """launchctl submit: a job without a file."""
        try:
            spec = self.domain.admit(validate(raw))
        except SpecError as e:
            raise ControlError(str(e), EXIT_INVALID_PLIST) from None
        if spec.label in self.jobs:
            raise ControlError(f"{spec.label}: service already loaded", EXIT_IO)
        self._add_job(spec, None)
        return spec.label

    def stop(self, label: str) -> None:
        managed = self.find(label)
        self._execute(managed, managed.machine.stop(self.now()))

    def unload_path(self, path: str, disable: bool = False) -> str:
        path = os.path.abspath(path)
        label = self.by_path.get(path) or label_from_file(path)
        if label is None:
            raise ControlError(f"{path}: cannot read its Label and no job was loaded from it", EXIT_INVALID_PLIST)
        if disable:
            self.overrides.set_disabled(label, True)
        if label not in self.jobs:
            raise ControlError(f"{path}: {label} is not loaded", EXIT_NO_SUCH_PROCESS)
        self.by_path.pop(path, None)
        self.unload(label)
        return label

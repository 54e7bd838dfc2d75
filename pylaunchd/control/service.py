"""The narrow API the control verbs use: what can be asked of a manager and
what can be done to it, in the verbs' terms.

Verbs (``control/verbs/``) call only these methods and get back the records
of :mod:`pylaunchd.control.status`; they never see the manager's tables or a
job's state machine. Everything that touches the manager's internals is here,
in small methods, so that a new core needs only this module ported. Failures
come out as :class:`ControlError` with pylaunchctl's exit status.

The service runs in the manager, on its event loop; pylaunchctl never
imports it.
"""

from __future__ import annotations

import os
import resource
from typing import TYPE_CHECKING

from .. import __version__
from ..jobtable import LoadResult, Outcome
from ..job import ONCE_RAN
from ..jobtypes import Phase
from ..plist import plists_in
from .errors import (EXIT_BAD_PERMISSIONS, EXIT_DISABLED, EXIT_INVALID_PLIST, EXIT_IO, EXIT_NO_SERVICE,
                     EXIT_NO_SUCH_PROCESS, EXIT_USAGE, EXIT_WRONG_SESSION, ControlError)
from .status import (Blame, DomainStatus, Inetd, JobStatus, JobSummary, KeepAlive, LastExit, LoadErrorStatus,
                     LogTail, ManagerInfo, PathResult, SocketStatus)

if TYPE_CHECKING:
    from ..manager import Manager
    from ..runtime import JobRuntime

# What a load or unload that did not happen means to pylaunchctl.
STATUS = {Outcome.BAD_PERMISSIONS: EXIT_BAD_PERMISSIONS, Outcome.INVALID: EXIT_INVALID_PLIST,
          Outcome.EXCLUDED: EXIT_WRONG_SESSION, Outcome.DISABLED: EXIT_DISABLED, Outcome.ALREADY_LOADED: EXIT_IO,
          Outcome.IN_USE: EXIT_IO, Outcome.SOCKET_ERROR: EXIT_IO, Outcome.NAME_IN_USE: EXIT_IO, Outcome.NOT_LOADED: EXIT_NO_SUCH_PROCESS,
          Outcome.NO_LABEL: EXIT_INVALID_PLIST}

# launchctl limit's names for the resources a manager's jobs inherit.
LIMITS = {"cpu": resource.RLIMIT_CPU, "filesize": resource.RLIMIT_FSIZE, "data": resource.RLIMIT_DATA,
          "stack": resource.RLIMIT_STACK, "core": resource.RLIMIT_CORE, "rss": resource.RLIMIT_RSS,
          "memlock": resource.RLIMIT_MEMLOCK, "maxproc": resource.RLIMIT_NPROC,
          "maxfiles": resource.RLIMIT_NOFILE}


class ControlService:
    """What the control verbs may ask of one manager."""

    def __init__(self, manager: Manager):
        self._manager = manager

    @property
    def _table(self):
        return self._manager.table

    def _find(self, label: str) -> JobRuntime:
        job = self._table.find(label)
        if job is None:
            error = self._table.errors.for_label(label)
            why = f": not loaded: {LoadErrorStatus(**vars(error)).text}" if error else ""
            raise ControlError(f'Could not find service "{label}" in domain {self._manager.domain.name}{why}',
                               EXIT_NO_SERVICE)
        return job

    def load_errors(self) -> list[LoadErrorStatus]:
        """Every watched plist that did not load, and why, by path."""
        return [LoadErrorStatus(**vars(e)) for e in self._table.errors.all()]

    # ------------------------------------------------------------ statuses

    def summaries(self) -> list[JobSummary]:
        """Every loaded job, by label."""
        jobs = self._table.jobs
        return [_summary(jobs[label]) for label in sorted(jobs)]  # sorting (label, job) pairs: 10x slower

    def plist_paths(self) -> dict[str, str | None]:
        """label -> the plist each loaded job came from (None: submitted)."""
        return {label: m.spec.path for label, m in self._table.jobs.items()}

    def summary(self, label: str) -> JobSummary:
        return _summary(self._find(label))

    def status(self, label: str) -> JobStatus:
        """Everything known of one job; ControlError 113 if it is not loaded."""
        return self._status(self._find(label))

    def _status(self, m: JobRuntime) -> JobStatus:
        manager, j, spec = self._manager, m.machine, m.spec
        remaining = None
        if j.phase is Phase.THROTTLED and j.throttled_until is not None:
            remaining = max(0.0, round(j.throttled_until - manager.clock.monotonic(), 1))
        last, ka = j.last_exit, spec.keep_alive
        return JobStatus(
            **vars(_summary(m)), domain=manager.domain.name, type=manager.domain.job_type, path=spec.path,
            program=spec.executable, arguments=list(spec.argv), environment=dict(spec.environment),
            working_directory=spec.working_directory, stdin_path=spec.stdin_path, stdout_path=spec.stdout_path,
            stderr_path=spec.stderr_path, run_at_load=spec.run_at_load,
            keep_alive=KeepAlive(ka.always, ka.successful_exit, ka.crashed),
            throttle_interval=spec.throttle_interval, exit_timeout=spec.exit_timeout,
            inetd_compatibility=None if spec.inetd is None else Inetd(spec.inetd.wait),
            last_exit=None if last is None else LastExit(last.code, last.signal, last.describe()),
            last_trigger=j.last_trigger, throttled_for=remaining, instances=sorted(j.instances),
            spawn_error=m.spawn_error, warnings=[str(w) for w in spec.warnings] + list(m.spawn_warnings)
            + [t for t in (m.accepts.problem, m.log.write_error) if t],
            ignored_keys=list(spec.ignored_keys), watching_sockets=j.watching,
            sockets=[SocketStatus(name=name, **b.describe()) for name, b in m.flat_sockets()],
            **self._readiness(m), endpoints=self._endpoints(m))

    def _endpoints(self, m: JobRuntime) -> list[dict]:
        bus = self._manager.bus
        if bus is not None:
            return bus.endpoints(m.label)
        return [{"name": s.name, "bus": None, "state": "not registered: the domain has no bus (--bus-address)",
                 "owner": None, "owner_pid": None, "owned_by_job": None, "hide_until_check_in": s.hide_until_check_in,
                 "activations": 0, "last_activation": None} for s in m.spec.mach_services]

    def _readiness(self, m: JobRuntime) -> dict:
        notify = self._manager.notify
        r = notify.readiness(m) if notify is not None else None
        ready = bool(r and r.ready and m.machine.pid is not None)
        left = None
        if r is not None and not ready and m.machine.pid is not None and r.extend_until is not None:
            left = max(0.0, round(r.extend_until - m.now(), 3)) or None
        return dict(ready=ready, status_text=r.status if r else None,
                    watchdog_interval=m.spec.watchdog_interval,
                    daemon_pid=self._manager.orphans.daemon_pid(m.label), ready_extended=left)

    def blame(self, label: str) -> Blame:
        m = self._find(label)
        return Blame(m.spec.label, m.machine.last_trigger, m.machine.pid is not None)

    def log_tail(self, label: str, lines: int | None = None, after: int | None = None) -> LogTail:
        """The last *lines* of the job's log, or every line after sequence number *after*."""
        m = self._find(label)
        text, seq = m.log.tail(n=lines, after=after)
        return LogTail(m.spec.label, m.log.path, text, seq)

    # ------------------------------------------------------------- domain

    def manager_info(self) -> ManagerInfo:
        m = self._manager
        d = m.domain
        return ManagerInfo(os.getpid(), os.getuid(), d.name, __version__, d.jobs_dirs, d.control_socket,
                           m.reexec_generation, m.reexec_note,
                           None if m.reexec_gap is None else round(m.reexec_gap, 4))

    async def reexec(self) -> dict:
        """Re-exec the manager (pylaunchd.reexec): once the installed code has
        passed its check, {"pid", "generation"}; a refusal is ControlError (1)."""
        from ..reexec.exec import ReexecError
        try:
            return await self._manager.reexec()
        except ReexecError as e:
            raise ControlError(str(e), 1) from None

    def domain_status(self) -> DomainStatus:
        d = self._manager.domain
        return DomainStatus(d.name, d.job_type, os.getpid(), os.getuid(), d.jobs_dirs, d.control_socket,
                            d.state_dir, self.environment(), self.overrides(), self.summaries(),
                            self.load_errors(), self._manager.bus.status() if self._manager.bus else None)

    @property
    def domain_name(self) -> str:
        return self._manager.domain.name

    @property
    def system(self) -> bool:
        """The system domain: anyone may send it read-only requests."""
        return self._manager.domain.system

    @property
    def control_socket(self) -> str:
        return self._manager.domain.control_socket

    def overrides(self) -> dict[str, bool]:
        """The persistent enabled/disabled overrides: label -> disabled."""
        return self._manager.overrides.items()

    def environment(self) -> dict[str, str]:
        """What the domain adds to every job's environment (setenv, SecureSocketWithKey)."""
        return self._manager.environment.job_env()

    def setenv(self, key: str, value: str) -> None:
        self._manager.environment.setenv(key, value)

    def unsetenv(self, key: str) -> None:
        self._manager.environment.unsetenv(key)

    # -------------------------------------------------------------- plists

    def load_paths(self, paths: list[str], force: bool = False, enable: bool = False) -> list[PathResult]:
        """Load plists, and the plists of directories, as one batch: every
        socket is created before any job starts."""
        results = []
        with self._table.batch():
            for path in paths:
                if not os.path.exists(path):
                    results.append(PathResult(path, error=f"{path}: No such file or directory", status=2))
                    continue
                results += [_path_result(self._table.load(p, force=force, enable=enable)) for p in _expand(path)]
        return results

    def unload_paths(self, paths: list[str], disable: bool = False) -> list[PathResult]:
        results = []
        for path in paths:
            results += [_path_result(self._table.unload_path(p, disable=disable)) for p in _expand(path)]
        return results

    def submit(self, label: str, arguments: list[str], program: str | None = None, stdout: str | None = None,
               stderr: str | None = None) -> str:
        """A KeepAlive job without a plist; returns its label."""
        raw = {"Label": label, "ProgramArguments": arguments, "KeepAlive": True}
        for key, value in (("Program", program), ("StandardOutPath", stdout), ("StandardErrorPath", stderr)):
            if value:
                raw[key] = value
        return _checked(self._table.submit(raw)).label

    # ---------------------------------------------------------------- jobs

    def remove(self, label: str) -> None:
        """Unload a job (113 if it is not loaded)."""
        self._find(label).unload()

    def bootout(self, label: str) -> None:
        """Unload a job, with launchctl bootout's error (3) if it is not loaded."""
        if self._table.find(label) is None:
            raise ControlError(f"Boot-out failed: 3: No such process ({label} is not loaded)",
                               EXIT_NO_SUCH_PROCESS)
        self._table.unload(label)

    def start(self, label: str) -> JobSummary:
        self._once(label).start()
        return self.summary(label)

    def stop(self, label: str) -> JobSummary:
        self._find(label).stop()
        return self.summary(label)

    def kickstart(self, label: str, kill: bool = False) -> JobSummary:
        job = self._once(label)
        job.kickstart(kill=kill)
        return _summary(job)

    def _once(self, label: str) -> JobRuntime:
        """The job, unless LaunchOnlyOnce keeps it from running again (5)."""
        job = self._find(label)
        if job.machine.finished:
            raise ControlError(f"{label}: {ONCE_RAN}", EXIT_IO)
        return job

    def signal(self, label: str, signum: int) -> list[int]:
        """Send *signum* to the job's processes; their PIDs (3 if none runs)."""
        pids = self._find(label).signal(signum)
        if not pids:
            raise ControlError("No process to signal.", EXIT_NO_SUCH_PROCESS)
        return pids

    def set_enabled(self, label: str, enabled: bool) -> None:
        if self._manager.bus is not None:  # first: an enable may load the job now
            self._manager.bus.set_disabled(label, not enabled)
        self._table.set_enabled(label, enabled, self._manager.watcher.scan)

    # -------------------------------------------------------------- limits

    def limits(self, name: str | None = None) -> dict[str, tuple[int, int]]:
        """The manager's (soft, hard) resource limits, which new jobs inherit; -1 is unlimited."""
        names = [_limit(name)] if name is not None else list(LIMITS)
        return {n: resource.getrlimit(LIMITS[n]) for n in names}

    def set_limit(self, name: str, soft: int, hard: int) -> None:
        try:
            resource.setrlimit(LIMITS[_limit(name)], (soft, hard))
        except (ValueError, OSError) as e:
            raise ControlError(f"setrlimit {name}: {e}", 1) from None


def _checked(r: LoadResult) -> LoadResult:
    if not r.ok:
        raise ControlError(r.message, STATUS[r.outcome])
    return r


def _path_result(r: LoadResult) -> PathResult:
    if r.ok:
        return PathResult(r.path, r.label)
    return PathResult(r.path, error=r.message, status=STATUS[r.outcome])


def _summary(m: JobRuntime) -> JobSummary:
    j = m.machine
    return JobSummary(j.label, j.pid, j.last_exit.list_value if j.last_exit else None, j.state, j.runs)


def _expand(path: str) -> list[str]:
    return plists_in(path) if os.path.isdir(path) else [path]


def _limit(name: str) -> str:
    if name not in LIMITS:
        raise ControlError(f"unknown limit {name!r}; one of {', '.join(LIMITS)}", EXIT_USAGE)
    return name

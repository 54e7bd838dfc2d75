"""The facts jobs wait on, pushed into them as events from one place.

KeepAlive's conditions (``PathState``, ``OtherJobEnabled``,
``OtherJobActive``, ``NetworkState``), ``QueueDirectories`` and the launch
events ``WatchPaths`` and ``StartOnMount`` depend on the world outside the
job. :class:`FactHub` is the one place that watches that world for the
loaded jobs and tells each job what changed, as an event of its state
machine (``condition`` or ``trigger``); it also gives a job every fact it
reads when it is loaded, and re-reads the cheap file-system facts before the
job decides what to do after an exit.
"""

from __future__ import annotations

from typing import Mapping

from .jobtypes import NETWORK, QUEUE, Fact
from .runtime import JobRuntime
from .spec import JobSpec
from .triggers.system import NetworkMonitor
from .triggers.pathwatch import PATH_STATE, QUEUE_DIRECTORIES, WATCH_PATHS, PathTriggers, exists, is_nonempty


def file_facts(spec: JobSpec) -> dict[Fact, bool]:
    """The job's file-system facts as they are now (cheap stats)."""
    facts: dict[Fact, bool] = {}
    if spec.queue_directories:
        facts[QUEUE] = any(is_nonempty(d) for d in spec.queue_directories)
    for p, _ in spec.keep_alive.path_state:
        facts[Fact.path(p)] = exists(p)
    return facts


class FactHub:
    """Cost: every push goes only to the jobs that read that fact (an index
    kept at arm and disarm), so loading, starting or removing one job among
    thousands costs its dependents, not a walk over the table."""

    def __init__(self, jobs: Mapping[str, JobRuntime], paths: PathTriggers, network: NetworkMonitor):
        self.jobs = jobs
        self.paths = paths
        self.network = network
        self._loaded_readers: dict[str, dict[str, JobRuntime]] = {}  # other label -> label -> reader
        self._active_readers: dict[str, dict[str, JobRuntime]] = {}
        self._network_readers: dict[str, JobRuntime] = {}
        self._mount_readers: dict[str, JobRuntime] = {}

    def _index(self, job: JobRuntime, spec: JobSpec | None) -> None:
        """Who reads what: *job* reads the facts of *spec* (None: nothing any more)."""
        label = job.label
        for readers in (*self._loaded_readers.values(), *self._active_readers.values()):
            readers.pop(label, None)
        self._network_readers.pop(label, None)
        self._mount_readers.pop(label, None)
        if spec is None:
            return
        ka = spec.keep_alive
        for other, _ in ka.other_job_enabled:
            self._loaded_readers.setdefault(other, {})[label] = job
        for other, _ in ka.other_job_active:
            self._active_readers.setdefault(other, {})[label] = job
        if ka.network_state is not None:
            self._network_readers[label] = job
        if spec.start_on_mount:
            self._mount_readers[label] = job

    def arm(self, job: JobRuntime, spec: JobSpec) -> dict[Fact, bool]:
        """Watch what *spec*'s launch events and conditions depend on; the
        facts it reads, as they are now."""
        label = spec.label
        self._index(job, spec)
        self.paths.unwatch(label)
        if spec.watch_paths:
            self.paths.watch(label, spec.watch_paths, WATCH_PATHS,
                             lambda changed: job.trigger(f"WatchPaths {changed[0]}"))
        if spec.queue_directories:
            self.paths.watch(label, spec.queue_directories, QUEUE_DIRECTORIES,
                             lambda changed: job.condition(QUEUE, file_facts(job.spec).get(QUEUE, False)))
        if spec.keep_alive.path_state:
            def path_changed(changed: list[str]) -> None:
                for p in changed:
                    job.condition(Fact.path(p), exists(p))
            self.paths.watch(label, [p for p, _ in spec.keep_alive.path_state], PATH_STATE, path_changed)
        facts = file_facts(spec)
        ka = spec.keep_alive
        for other, _ in ka.other_job_enabled:
            facts[Fact.loaded(other)] = other in self.jobs and not self.jobs[other].machine.removing
        for other, _ in ka.other_job_active:
            facts[Fact.active(other)] = other in self.jobs and self.jobs[other].machine.pid is not None
        if ka.network_state is not None:
            facts[NETWORK] = self.network.up
        return facts

    def disarm(self, job: JobRuntime) -> None:
        self._index(job, None)
        self.paths.unwatch(job.label)

    def job_loaded(self, label: str, loaded: bool) -> None:
        """Another job was loaded or unloaded (OtherJobEnabled)."""
        for job in list(self._loaded_readers.get(label, {}).values()):
            job.condition(Fact.loaded(label), loaded)

    def job_active(self, label: str, active: bool) -> None:
        """Another job's main process started or is gone (OtherJobActive)."""
        for job in list(self._active_readers.get(label, {}).values()):
            job.condition(Fact.active(label), active)

    def network_changed(self, up: bool) -> None:
        for job in list(self._network_readers.values()):
            job.condition(NETWORK, up)

    def mounted(self, points: list[str]) -> None:
        for job in list(self._mount_readers.values()):
            job.trigger(f"StartOnMount {points[0]}")

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
    def __init__(self, jobs: Mapping[str, JobRuntime], paths: PathTriggers, network: NetworkMonitor):
        self.jobs = jobs
        self.paths = paths
        self.network = network

    def arm(self, job: JobRuntime, spec: JobSpec) -> dict[Fact, bool]:
        """Watch what *spec*'s launch events and conditions depend on; the
        facts it reads, as they are now."""
        label = spec.label
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

    def disarm(self, label: str) -> None:
        self.paths.unwatch(label)

    def job_loaded(self, label: str, loaded: bool) -> None:
        """Another job was loaded or unloaded (OtherJobEnabled)."""
        for job in list(self.jobs.values()):
            if any(other == label for other, _ in job.spec.keep_alive.other_job_enabled):
                job.condition(Fact.loaded(label), loaded)

    def job_active(self, label: str, active: bool) -> None:
        """Another job's main process started or is gone (OtherJobActive)."""
        for job in list(self.jobs.values()):
            if any(other == label for other, _ in job.spec.keep_alive.other_job_active):
                job.condition(Fact.active(label), active)

    def network_changed(self, up: bool) -> None:
        for job in list(self.jobs.values()):
            if job.spec.keep_alive.network_state is not None:
                job.condition(NETWORK, up)

    def mounted(self, points: list[str]) -> None:
        for job in list(self.jobs.values()):
            if job.spec.start_on_mount:
                job.trigger(f"StartOnMount {points[0]}")

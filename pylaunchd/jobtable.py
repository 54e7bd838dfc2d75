"""The table of loaded jobs: labels, plist paths, child pids, deferred loads.

:class:`JobTable` decides which plist becomes which loaded job and answers
with typed results (:class:`LoadResult`, :class:`UnloadResult`); it knows
nothing of the control protocol, whose layer turns an :class:`Outcome` into
launchctl's exit status. It guarantees:

* a batch of loads (:meth:`JobTable.batch`: a directory scan, one ``load``
  of several plists) creates every socket of every job before any job of the
  batch starts, so a job finds every socket and exported variable there;
* one label is one job: a second plist with a loaded label is refused; a
  plist renamed within the watched directories keeps its job;
* a job reloaded while its previous instance is still being removed loads
  again once that instance is gone (a deferred load);
* a plist that fails to load leaves the loaded version, if any, running;
  a watched plist that fails is recorded (:mod:`pylaunchd.loaderrors`) until
  it loads or goes, and a plist refused because its label was loaded from
  another file loads when that file goes;
* a plist loaded with ``load -F`` stays forced: the watcher's loads of it
  (a pending event, a later edit) do not undo the override.

Size: the table's loading rules (deferred loads, renames, duplicates, load
errors, forced paths) share its maps; split, each half would reach into them.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import socket
from dataclasses import dataclass
from typing import Callable

from .domain import Domain, Overrides
from .facts import FactHub
from .joblog import JobLog, log_path
from .loaderrors import LoadError, LoadErrors, strip_path
from .plist import PlistError, is_plist_name
from .runtime import JobContext, JobRuntime
from .boot import Early
from .bootcache import file_identity
from .sockets import SocketError, close_group, create_groups
from .spec import JobSpec, SpecError, label_from_file, load_spec, validate

log = logging.getLogger("pylaunchd")


class Outcome(enum.Enum):
    LOADED = "loaded"
    RELOADED = "reloaded"  # a watched plist changed (or did not) and its job took it
    DEFERRED = "deferred"  # loads again once its previous instance has exited
    BAD_PERMISSIONS = "bad permissions"  # launchctl's ownership/mode rule (-F overrides)
    INVALID = "invalid"  # not a plist, or not a valid job
    EXCLUDED = "excluded"  # LimitLoadTo*/LimitLoadFrom* keep it out of this domain
    DISABLED = "disabled"
    ALREADY_LOADED = "already loaded"
    IN_USE = "in use"  # the label is loaded from another plist
    SOCKET_ERROR = "socket error"
    NAME_IN_USE = "bus name in use"  # a MachServices name another loaded job serves
    UNLOADED = "unloaded"
    NOT_LOADED = "not loaded"
    NO_LABEL = "no label"


@dataclass(frozen=True)
class LoadResult:
    path: str | None
    label: str | None
    outcome: Outcome
    message: str = ""
    key_path: str = ""  # where in the plist the failure is ("" for the whole file)
    other_path: str | None = None  # IN_USE: the plist the label is loaded from

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.LOADED, Outcome.RELOADED, Outcome.DEFERRED, Outcome.UNLOADED)


UnloadResult = LoadResult

# The outcomes of a watched plist that are errors to show (the others are
# loads, or the domain's choice: disabled, excluded).
ERRORS = frozenset({Outcome.BAD_PERMISSIONS, Outcome.INVALID, Outcome.IN_USE, Outcome.SOCKET_ERROR,
                    Outcome.NO_LABEL, Outcome.NAME_IN_USE})


class JobTable:
    def __init__(self, domain: Domain, overrides: Overrides, facts: FactHub,
                 context: Callable[[], JobContext], jobs: dict[str, JobRuntime] | None = None):
        self.domain = domain
        self.overrides = overrides
        self.facts = facts
        self._context = context
        self.jobs: dict[str, JobRuntime] = {} if jobs is None else jobs
        self.by_path: dict[str, str] = {}  # plist path -> label
        self.pids: dict[int, JobRuntime] = {}  # child pid -> its job
        self.deferred: dict[str, tuple[str, bool]] = {}  # label -> (path, force): load once removed
        self.closing = False  # the manager is shutting down: nothing loads any more
        self.on_empty: Callable[[], None] = lambda: None  # the last job was removed while closing
        self.on_sockets_changed: Callable[[str, list | None], None] = lambda label, groups: None
        self.on_removed: Callable[[JobRuntime], None] = lambda job: None  # a job is gone
        self._pending: list[JobRuntime] | None = None  # jobs whose start waits for the batch
        self._early: dict[str, Early] = {}  # plist path -> what boot.py read and bound
        self.read_from: dict[str, tuple] = {}  # plist path -> (file identity, the spec read from it): boot's cache
        self.errors = LoadErrors()  # the watched plists that did not load, and why
        self.forced: set[str] = set()  # plist paths loaded with -F: the watcher loads them so too
        self.submitted: dict[str, dict] = {}  # label -> the dictionary submitted (a re-exec submits it again)
        # A re-exec: sockets handed over, taken by address; and who takes
        # over a job that runs already (True: it did, instead of a load).
        self.inherited = None
        self.adopter: Callable[[JobRuntime, dict], bool] | None = None
        # (key path, message) when another job serves one of the spec's bus names (the bus hub's)
        self.name_conflict: Callable[[JobSpec], tuple[str, str] | None] = lambda spec: None

    def adopt(self, early: dict[str, Early]) -> None:
        """Take over the specs and sockets that boot.py made before the loop
        ran: loads of these paths use them instead of reading and binding
        again. Call :meth:`forget_early` after the first scan."""
        self._early = dict(early)

    def forget_early(self) -> None:
        """Close the sockets of boot that no load took (their plist changed or went)."""
        early, self._early = self._early, {}
        for e in early.values():
            for g in e.groups:
                close_group(g)

    def boot_cache_items(self) -> list[tuple[str, tuple, JobSpec]] | None:
        """(plist path, file identity, spec) of each job loaded from a plist of
        the job directories, as read from that very file (the boot cache's);
        None while closing: what a shutdown unloads still loads next time."""
        if self.closing:
            return None
        self.read_from = {p: r for p, r in self.read_from.items() if p in self.by_path}
        items = []
        for path, label in self.by_path.items():
            job, read = self.jobs.get(label), self.read_from.get(path)
            if job is not None and read is not None and self.domain.watches(path) \
                    and (read[1] is job.spec or read[1] == job.spec):
                items.append((path, read[0], job.spec))
        return items

    def find(self, label: str) -> JobRuntime | None:
        return self.jobs.get(label)

    # -- loading ------------------------------------------------------------

    @contextlib.contextmanager
    def batch(self):
        """Load several jobs: every socket is created before any job starts."""
        if self._pending is not None:  # already in a batch
            yield
            return
        self._pending = []
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            for job in pending:
                if self.jobs.get(job.label) is job:
                    self._start(job)

    def load(self, path: str, *, force: bool = False, from_dir: bool = False, enable: bool = False) -> LoadResult:
        """Load or reload the job in *path*: ``force`` is ``load -F`` (ownership,
        mode and Disabled are not checked), ``enable`` is ``load -w``;
        ``from_dir`` says the plist is in a watched directory, where a change
        of a loaded plist is a reload rather than an error, and a failure is
        recorded in :attr:`errors` until the file loads or goes."""
        path = os.path.abspath(path)
        force = force or (from_dir and path in self.forced)
        foreign = None if from_dir or force else self.domain.foreign_agent(path)
        if foreign:
            return LoadResult(path, None, Outcome.EXCLUDED, f"{path}: Service cannot load in requested session: "
                              f"{foreign}")
        # A load of a plist of a watched directory (brew services: copy, then
        # bootstrap) means what the watcher does: whether the watcher took
        # the file first must not change the answer.
        result = self._load(path, force, from_dir or self.domain.watches(path), enable)
        if result.outcome in ERRORS and from_dir:
            label = result.label or label_from_file(path)
            self.errors.record(LoadError(path, label, result.outcome.value, result.key_path,
                                         strip_path(path, result.message), result.other_path))
        elif result.outcome not in ERRORS:
            self.errors.clear(path)
        if force and result.ok:
            self.forced.add(path)
        return result

    def _load(self, path: str, force: bool, from_dir: bool, enable: bool) -> LoadResult:
        spec = self._read(path, force)
        if isinstance(spec, LoadResult):
            if spec.outcome is Outcome.BAD_PERMISSIONS and from_dir and path in self.by_path:
                # Loaded the moment it was written, then given to another user
                # or made writable by others: it must not stay loaded.
                label = self.by_path.pop(path)
                log.warning("(%s) %s is no longer safe to load: unloading", label, path)
                self.unload(label)
            return spec
        refused = self._admissible(spec, path, force, enable)
        if refused is not None:
            return refused  # disabled or kept out: its keys' warnings would only be noise
        for w in spec.warnings:
            log.warning("(%s) %s: %s", spec.label, path, w)
        taken = self.name_conflict(spec)
        if taken is not None:
            log.error("(%s) %s: %s: %s; not loaded", spec.label, path, *taken)
            return LoadResult(path, spec.label, Outcome.NAME_IN_USE, f"{path}: {taken[0]}: {taken[1]}", taken[0])
        old_label = self.by_path.get(path)
        if old_label is not None and old_label != spec.label:
            log.info("(%s) %s now defines %s: unloading the old label", old_label, path, spec.label)
            del self.by_path[path]
            self.unload(old_label)
        existing = self.jobs.get(spec.label)
        if existing is None:
            return self._add(spec, path)
        if existing.spec.path != path and self.by_path.get(path) != spec.label:
            other = existing.spec.path
            if from_dir and path not in self.errors:
                log.error("(%s) %s: not loaded: the label is already loaded from %s%s", spec.label, path,
                          other or "a submitted job", "; it loads if that file goes" if other else "")
            return LoadResult(path, spec.label, Outcome.IN_USE,
                              f"{path}: {spec.label} is already loaded from {other}", "Label", other)
        if existing.machine.removing:
            self.deferred[spec.label] = (path, force)
            log.info("(%s) will load again once its previous instance has exited", spec.label)
            return LoadResult(path, spec.label, Outcome.DEFERRED)
        if not from_dir:
            return LoadResult(path, spec.label, Outcome.ALREADY_LOADED,
                              f"{path}: service already loaded ({spec.label})")
        existing.reload(spec, {} if spec == existing.spec else self.facts.arm(existing, spec))
        self.by_path[path] = spec.label
        return LoadResult(path, spec.label, Outcome.RELOADED)

    def _read(self, path: str, force: bool) -> JobSpec | LoadResult:
        problem = None if force else self.domain.file_problem(path)
        if problem:
            log.error("%s: not loaded: %s", path, problem)
            return LoadResult(path, None, Outcome.BAD_PERMISSIONS,
                              f"{path}: Path had bad ownership/permissions: {problem}")
        early = self._early.get(path)
        before = file_identity(path)
        try:
            spec = early.spec if early is not None and early.identity == before \
                else self.domain.admit(load_spec(path))
        except (PlistError, SpecError) as e:
            log.error("%s; %s", e, "keeping the version already loaded" if path in self.by_path else "not loaded")
            return LoadResult(path, None, Outcome.INVALID, str(e), getattr(e, "key_path", ""))
        if before is not None and file_identity(path) == before:  # the file that spec was read from
            self.read_from[path] = (before, spec)
        return spec

    def _loaded_from(self, spec: JobSpec, path: str) -> bool:
        return spec.label in self.jobs and self.jobs[spec.label].spec.path == path

    def _admissible(self, spec: JobSpec, path: str, force: bool, enable: bool) -> LoadResult | None:
        """Why the domain keeps *spec* out (unloading what it replaced), or None."""
        excluded = self.domain.load_filter(spec, socket.gethostname())
        if excluded:
            log.info("(%s) %s: not loaded: %s", spec.label, path, excluded)
            if self._loaded_from(spec, path):
                self.unload(spec.label)
            return LoadResult(path, spec.label, Outcome.EXCLUDED,
                              f"{path}: Service cannot load in requested session: {excluded}")
        if enable:
            self.overrides.set_disabled(spec.label, False)
        if force or not self.overrides.is_disabled(spec.label, spec.disabled):
            return None
        if self._loaded_from(spec, path):
            log.info("(%s) now disabled: unloading", spec.label)
            self.unload(spec.label)
        else:
            log.info("(%s) %s is disabled; not loaded (enable it with `pylaunchctl load -w %s`)",
                     spec.label, path, path)
        return LoadResult(path, spec.label, Outcome.DISABLED,
                          f"{path}: {spec.label} is disabled: enable it with `pylaunchctl enable "
                          f"{self.domain.name}/{spec.label}` (or load it with -w to enable it, "
                          f"-F to load it once)")

    def submit(self, raw: dict) -> LoadResult:
        """launchctl submit: a job without a file."""
        try:
            spec = self.domain.admit(validate(raw))
        except SpecError as e:
            return LoadResult(None, None, Outcome.INVALID, str(e))
        if spec.label in self.jobs:
            return LoadResult(None, spec.label, Outcome.ALREADY_LOADED, f"{spec.label}: service already loaded")
        result = self._add(spec, None)
        if result.ok:
            self.submitted[spec.label] = raw
        return result

    def _add(self, spec: JobSpec, path: str | None) -> LoadResult:
        """Create a new job's sockets and start it by its keys (at the end of
        the batch, if one is open). *path* is None for a submitted job."""
        where = path or spec.label
        try:
            groups = self._sockets_for(spec, path)
        except SocketError as e:
            e = SocketError(f"{e}{_holder(spec, self.jobs)}")
            log.error("(%s) %s: %s; not loaded", spec.label, where, e)
            return LoadResult(path, spec.label, Outcome.SOCKET_ERROR, f"{where}: {e}", "Sockets")
        job = JobRuntime(spec, groups, JobLog(log_path(self.domain.state_dir, spec.label)), self._context())
        job.log.event(f"loaded from {where}" if path else "submitted", create=False)
        for w in spec.warnings:
            job.log.event(f"warning: {w}")
        self.jobs[spec.label] = job
        if path is not None:
            self.by_path[path] = spec.label
        summary = job.socket_summary()
        log.info("(%s) %s%s", spec.label, f"loaded from {path}" if path else "submitted",
                 f"; sockets {summary}" if summary else "")
        self.on_sockets_changed(spec.label, groups)
        if self._pending is not None:
            self._pending.append(job)
        else:
            self._start(job)
        return LoadResult(path, spec.label, Outcome.LOADED)

    def _sockets_for(self, spec: JobSpec, path: str | None) -> list:
        """The job's socket groups: those boot bound for this plist where the
        definition is the same, the others created now (raises SocketError)."""
        early = self._early.pop(path, None) if path is not None else None
        bound = {g.name: g for g in early.groups} if early is not None else {}
        groups: list = []
        try:
            groups = create_groups(spec.sockets, bound, self.inherited)
            return groups
        finally:
            for g in bound.values():
                if all(g is not kept for kept in groups):
                    close_group(g)

    def _start(self, job: JobRuntime) -> None:
        facts = self.facts.arm(job, job.spec)
        if self.adopter is None or not self.adopter(job, facts):
            job.load(facts)
        self.facts.job_loaded(job.label, True)

    # -- unloading ----------------------------------------------------------

    def unload(self, label: str) -> None:
        job = self.jobs.get(label)
        if job is not None:
            job.unload()

    def unload_path(self, path: str, disable: bool = False) -> UnloadResult:
        path = os.path.abspath(path)
        label = self.by_path.get(path) or label_from_file(path)
        if label is None:
            return LoadResult(path, None, Outcome.NO_LABEL,
                              f"{path}: cannot read its Label and no job was loaded from it")
        self.forced.discard(path)
        if disable:
            self.overrides.set_disabled(label, True)
        if label not in self.jobs:
            return LoadResult(path, label, Outcome.NOT_LOADED, f"{path}: {label} is not loaded")
        self.by_path.pop(path, None)
        self.unload(label)
        return LoadResult(path, label, Outcome.UNLOADED)

    def removed(self, job: JobRuntime) -> None:
        """The job's runtime closed everything: forget it, tell who depends on it."""
        label = job.label
        if self.jobs.get(label) is job:
            del self.jobs[label]
            self.submitted.pop(label, None)
        for pid in [p for p, j in self.pids.items() if j is job]:
            del self.pids[pid]
        self.on_removed(job)
        if self.closing and not self.jobs:
            self.on_empty()
        self.on_sockets_changed(label, None)
        path = job.spec.path
        if path is not None and self.by_path.get(path) == label and not os.path.exists(path):
            del self.by_path[path]
        self.facts.disarm(job)
        log.info("(%s) unloaded", label)
        self.facts.job_loaded(label, False)
        deferred = self.deferred.pop(label, None)
        if deferred and not self.closing:
            self.load(deferred[0], force=deferred[1], from_dir=True)
        elif not self.closing and (path is None or not os.path.exists(path) or label_from_file(path) != label):
            for other in self.errors.waiting_for(label):  # a duplicate of the label whose file went
                log.info("(%s) loading %s, which defines it too", label, other)
                if self.load(other, from_dir=True).ok:
                    break

    # -- children -----------------------------------------------------------

    def child_spawned(self, pid: int, job: JobRuntime) -> None:
        self.pids[pid] = job

    def reaped(self, pid: int, status: int) -> None:
        job = self.pids.pop(pid, None)
        if job is not None and self.jobs.get(job.label) is job:
            job.reaped(pid, status)

    # -- job directories ----------------------------------------------------

    def reconcile(self, paths: set[str]) -> None:
        """Bring the loaded jobs in line with these plist paths of watched
        directories (a path ending in ``/`` stands for every loaded plist of
        that directory)."""
        if self.closing:
            return
        self.errors.prune()
        expanded: set[str] = set()
        for p in paths:
            if p.endswith(os.sep):
                expanded |= {q for q in self.by_path if os.path.dirname(q) == p.rstrip(os.sep)}
            else:
                expanded.add(p)
        gone = {p for p in expanded if p in self.by_path and not os.path.exists(p)}
        present = sorted(p for p in expanded if os.path.isfile(p) and is_plist_name(p))
        for p in present if gone else ():  # a plist renamed within the watched directories keeps its job
            label = label_from_file(p)
            for old in list(gone):
                if self.by_path.get(old) == label:
                    gone.discard(old)
                    del self.by_path[old]
                    self.by_path[p] = label
                    log.info("(%s) plist moved from %s to %s", label, old, p)
        for p in sorted(gone):
            self.forced.discard(p)
            label = self.by_path.pop(p)
            log.info("(%s) %s was removed: unloading", label, p)
            self.unload(label)
        with self.batch():
            for p in present:
                self.load(p, from_dir=True)  # a failure is logged with the file and the reason

    def set_enabled(self, label: str, enabled: bool, watched: Callable[[], set[str]]) -> None:
        """launchctl enable/disable: the persistent override. Neither stops a
        running job; enabling a job whose plist sits in a watched directory
        (*watched*: every plist there) loads it, since that directory is what
        the domain should run."""
        self.overrides.set_disabled(label, not enabled)
        if not enabled or label in self.jobs:
            return
        for path in sorted(watched()):
            if label_from_file(path) == label:
                self.load(path, from_dir=True)
                return


def _holder(spec: JobSpec, jobs: dict) -> str:
    """Which loaded job already has one of *spec*'s sockets (the same unix
    path, or the same node and service), to say so: ``; job LABEL has it``."""
    def keys(sp: JobSpec) -> set:
        return {s.path or (s.node, s.service, s.type) for g in sp.sockets for s in g.sockets
                if s.path or s.service not in (None, "0")}

    mine = keys(spec)
    for label, job in jobs.items():
        if label != spec.label and mine & keys(job.spec):
            return f" (job {label}, loaded from {job.spec.path or 'a submission'}, has it)"
    return ""

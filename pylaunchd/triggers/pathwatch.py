"""Filesystem triggers for jobs: WatchPaths, QueueDirectories, KeepAlive.PathState.

launchd watches these paths with kqueue vnode events; pylaunchd uses inotify
through watchdog, with one Observer shared by every job and by the job
directories' watcher (watching.py). What each key needs:

* ``WatchPaths``: start the job whenever a listed path is modified: written,
  created, deleted, renamed (away, or over it as editors save), attributes
  changed (chmod, chown, touch). For a directory, as with kqueue on the
  directory's vnode, entries added, removed or renamed count, and so do the
  directory's own attributes; writes inside the files it holds do not.
* ``QueueDirectories``: keep the job running while a directory is non-empty.
  The job state machine asks :func:`is_nonempty` at each exit; this module
  reports when a directory may need a start: it became non-empty, or gained
  entries (an add that lands right after the job drained the directory and
  exited must not be lost, even when both fall in one coalesced batch).
* ``KeepAlive.PathState``: keep the job alive while a path exists (or does
  not). This module reports when the existence of a path may have changed;
  the caller evaluates the condition with :func:`exists`.

inotify watches inodes, not names, so every path is watched through its parent
directory, which sees the name being created, deleted, renamed, written and
chmod-ed; a directory listed in WatchPaths or QueueDirectories is watched as
well, for its entries. A parent that does not exist yet is replaced by its
nearest existing ancestor, and the watches are re-armed after every batch of
events: as directories get created (``mkdir -p``), the watch moves down to
them; when a watched directory is deleted or renamed, inotify drops or carries
its watch away, and a new one is set on whatever now has the name. Watches are
set before states are read, so a file created while a watch moves is seen.

Events arrive on watchdog's threads, which only forward them to the event loop
(``call_soon_threadsafe``); everything else, callbacks included, runs on the
loop thread. Events are coalesced for a short quiet period (watching.Coalescer,
as for jobsdir.py), so a burst of writes is one callback listing the paths
that changed.

Known gaps, all shared with or milder than launchd's own ("race-prone and
lossy", says its man page):

* Link-count changes made through another directory (``ln`` elsewhere) are not
  seen: inotify reports them only to a watch on the file itself, and watchdog
  watches files through their parent directory.
* The rename of a watched directory's ancestor is noticed only at the next
  event in a watched directory, and a watch on a renamed directory reports
  events under its old name until then (watchdog drops IN_MOVE_SELF).
* An inotify queue overflow drops events silently (watchdog does not tell
  handlers); a rename out of a watched directory to an unwatched one is held
  0.5 s by watchdog while it waits for the other half of the move (and the
  directory's later events with it; dropping that watch meanwhile blocks the
  loop for the rest of the 0.5 s, as watchdog joins its thread).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field
from typing import Callable, Iterable

from watchdog.events import (
    DirAttribEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileAttribEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
)

from ..paths import anchor, directory_id, exists, is_nonempty, nearest_existing, normalize_path
from ..clock import Clock, LoopClock
from ..watching import Coalescer, SharedObserver, Watch

log = logging.getLogger("pylaunchd")

__all__ = [
    "WATCH_PATHS", "QUEUE_DIRECTORIES", "PATH_STATE", "KINDS",
    "PathTriggers", "exists", "is_nonempty", "nearest_existing", "normalize_path",
]

WATCH_PATHS = "WatchPaths"
QUEUE_DIRECTORIES = "QueueDirectories"
PATH_STATE = "PathState"
KINDS = (WATCH_PATHS, QUEUE_DIRECTORIES, PATH_STATE)

QUIET_PERIOD = 0.1  # seconds without events before a batch is handed over
MAX_DELAY = 0.5  # a steady stream of events is still handed over this often

# The events asked of watchdog. With a filter, watchdog also narrows the inotify
# mask: no IN_OPEN/IN_CLOSE_*, so reading a file or listing a watched directory
# (is_nonempty does) wakes nobody, and the synthetic "directory modified" events
# watchdog adds after each create/delete/close-write are dropped (DirModifiedEvent
# is left out on purpose: it would make a write inside a directory's file look
# like a change of the directory). FileModifiedEvent brings IN_MODIFY|IN_ATTRIB.
_EVENT_FILTER = [
    FileCreatedEvent, DirCreatedEvent, FileDeletedEvent, DirDeletedEvent,
    FileMovedEvent, DirMovedEvent, FileModifiedEvent, FileAttribEvent, DirAttribEvent,
]
_FORWARDED = frozenset({"created", "deleted", "moved", "modified", "attrib"})
_ENTRY_EVENTS = frozenset({"created", "deleted", "moved"})

Callback = Callable[[list[str]], None]


@dataclass
class _Watch:
    watch: Watch
    ident: tuple[int, int]  # (st_dev, st_ino) of the directory when the watch was set


@dataclass
class _Registration:
    key: str
    kind: str
    paths: tuple[str, ...]  # normalized
    given: dict[str, str]  # normalized -> as passed to watch(), for the callback
    callback: Callback
    state: dict[str, bool] = field(default_factory=dict)  # exists / non-empty at the last look


@dataclass
class _Batch:
    """What one coalesced batch of events says, path by path."""

    touched: set[str] = field(default_factory=set)  # every path an event names
    entries: set[str] = field(default_factory=set)  # names created, deleted or renamed (either end)
    entry_dirs: set[str] = field(default_factory=set)  # directories whose entries changed
    added_dirs: set[str] = field(default_factory=set)  # directories that gained an entry
    gone: set[str] = field(default_factory=set)  # names deleted or renamed away

    @classmethod
    def of(cls, events: list[tuple[str, str, str]]) -> "_Batch":
        b = cls()
        for event_type, src, dest in events:
            b.touched.update(p for p in (src, dest) if p)
            if event_type not in _ENTRY_EVENTS:
                continue
            for p in (src, dest):
                if p:
                    b.entries.add(p)
                    b.entry_dirs.add(os.path.dirname(p))
            if event_type == "created":
                b.added_dirs.add(os.path.dirname(src))
            elif event_type == "moved" and dest:
                b.added_dirs.add(os.path.dirname(dest))
            if event_type in ("deleted", "moved"):
                b.gone.add(src)
        return b

    def hit(self, kind: str, path: str, before: bool, now: bool) -> bool:
        """Whether *path*, watched as *kind*, is to be reported (module docstring)."""
        if kind == WATCH_PATHS:
            return now != before or path in self.touched or path in self.entry_dirs
        if kind == PATH_STATE:
            return now != before or path in self.entries
        return now and (not before or path in self.added_dirs or path in self.entries)  # QUEUE_DIRECTORIES


class PathTriggers:
    """Watches paths for jobs and calls back on the loop with those that changed.

    ``watch(key, paths, kind, callback)`` registers the paths of one launchd key
    (:data:`WATCH_PATHS`, :data:`QUEUE_DIRECTORIES` or :data:`PATH_STATE`) for a
    job (*key*, its label); ``callback(paths)`` is then called on the loop
    thread with the paths (as given) that changed, per the module docstring.
    The initial state is never reported: check :func:`exists` /
    :func:`is_nonempty` at load. Methods must be called on the loop thread.

    *observer* is the manager's shared one (default: the loop's, see
    :meth:`SharedObserver.for_loop`), held from the first watch to
    :meth:`close`; *clock* times the quiet period (default: the loop's).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None, *,
                 quiet_period: float = QUIET_PERIOD, max_delay: float = MAX_DELAY,
                 clock: Clock | None = None, observer: SharedObserver | None = None):
        self.loop = loop or asyncio.get_running_loop()
        self._observer = observer or SharedObserver.for_loop(self.loop)
        self._holding = False
        self._coalescer = Coalescer(clock or LoopClock(self.loop), quiet_period, max_delay, self._flush)
        self._regs: dict[tuple[str, str], _Registration] = {}
        self._watches: dict[str, _Watch] = {}  # watched directory -> watch
        self._failed: set[str] = set()  # directories whose watch failed (logged once)
        self._closed = False

    # -- public API --

    def watch(self, key: str, paths: Iterable[str] | str, kind: str, callback: Callback) -> None:
        """Watch *paths* for job *key* as launchd key *kind*, replacing what
        *key* watched for that kind. Relative paths raise ValueError."""
        if self._closed:
            raise RuntimeError("PathTriggers is closed")
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(KINDS)}")
        if not callable(callback):
            raise TypeError("callback must be callable")
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        given: dict[str, str] = {}
        for p in paths:
            given.setdefault(normalize_path(p), os.fspath(p))
        if not given:
            self.unwatch(key, kind)
            return
        reg = _Registration(key, kind, tuple(given), given, callback)
        self._regs[(key, kind)] = reg
        if not self._holding:
            self._holding = True
            self._observer.acquire()
        self._rearm(set())  # watches first, then the states they guard
        for p in reg.paths:
            reg.state[p] = self._look(kind, p)

    def unwatch(self, key: str, kind: str | None = None) -> None:
        """Stop watching for job *key* (every kind, or just *kind*)."""
        removed = [k for k in self._regs if k[0] == key and (kind is None or k[1] == kind)]
        for k in removed:
            del self._regs[k]
        if removed and not self._closed:
            self._rearm(set())

    def close(self) -> None:
        """Drop every watch and let the observer go; no callback is made afterwards."""
        if self._closed:
            return
        self._closed = True
        self._coalescer.cancel()
        self._regs.clear()
        for d in list(self._watches):
            self._unschedule(d)
        if self._holding:
            self._holding = False
            self._observer.release()

    @property
    def quiet_period(self) -> float:
        return self._coalescer.quiet

    @property
    def max_delay(self) -> float:
        return self._coalescer.max_delay

    @property
    def watched_directories(self) -> list[str]:
        """The directories now under an inotify watch (for diagnostics)."""
        return sorted(self._watches)

    # -- watches --

    def _wanted(self) -> set[str]:
        wanted: set[str] = set()
        for reg in self._regs.values():
            for p in reg.paths:
                wanted.add(anchor(p))
                if reg.kind != PATH_STATE and os.path.isdir(p):
                    wanted.add(p)  # its entries, too
        return wanted

    def _rearm(self, suspects: set[str]) -> None:
        """Watch exactly the wanted directories. A watch goes stale when its
        directory was deleted or renamed (*suspects*: watchdog's watch then is
        gone, or follows the inode under another name) or when the name now
        leads to another inode; it is replaced."""
        wanted = self._wanted()
        for d, w in list(self._watches.items()):
            if d not in wanted or d in suspects or directory_id(d) != w.ident:
                self._unschedule(d)
        for d in sorted(wanted):
            if d not in self._watches:
                self._schedule(d)

    def _schedule(self, d: str) -> None:
        ident = directory_id(d)  # before the watch: a replacement in between shows as a mismatch later
        if ident is None:
            return
        try:
            watch = self._observer.schedule(d, self._event, event_types=_FORWARDED,
                                            event_filter=_EVENT_FILTER, follow_symlink=True)
        except OSError as e:
            if d not in self._failed:
                self._failed.add(d)
                log.warning("cannot watch %s: %s", d, e.strerror or e)
            return
        self._failed.discard(d)
        self._watches[d] = _Watch(watch, ident)
        log.debug("watching %s", d)

    def _unschedule(self, d: str) -> None:
        self._observer.unschedule(self._watches.pop(d).watch)
        log.debug("no longer watching %s", d)

    # -- events --

    def _event(self, event_type: str, src: str, dest: str) -> None:
        """On the loop: one event from watchdog; (re)start the quiet period."""
        if not self._closed:
            self._coalescer.add((event_type, src, dest))

    def _flush(self, events: list[tuple[str, str, str]]) -> None:
        if self._closed:
            return
        batch = _Batch.of(events)
        self._rearm(batch.gone)
        due: list[tuple[_Registration, list[str]]] = []
        for reg in self._regs.values():
            changed = []
            for p in reg.paths:
                before = reg.state.get(p, False)
                now = reg.state[p] = self._look(reg.kind, p)
                if batch.hit(reg.kind, p, before, now):
                    changed.append(reg.given[p])
            if changed:
                due.append((reg, changed))
        for reg, changed in due:
            if self._regs.get((reg.key, reg.kind)) is not reg:
                continue  # unwatched by an earlier callback
            try:
                reg.callback(changed)
            except Exception:  # noqa: BLE001 - one job's callback must not stop the others'
                log.exception("%s: %s callback failed", reg.key, reg.kind)

    @staticmethod
    def _look(kind: str, path: str) -> bool:
        return is_nonempty(path) if kind == QUEUE_DIRECTORIES else exists(path)

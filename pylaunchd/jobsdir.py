"""Watching job directories with watchdog (inotify) and reporting changed paths.

Events arrive on watchdog's thread and are handed to the event loop. A plist
is reported the moment it is complete, so that its socket listens within
milliseconds of the save, and never while it is half written:

* written and closed (``IN_CLOSE_WRITE``), or renamed into its name (an
  editor's temporary file, ``brew services``): at once;
* created without being opened for writing (a symlink, a hard link, a file
  moved in from another directory), deleted, or renamed away: after
  :data:`GRACE` (2 ms) — a name that is opened for writing meanwhile waits
  for its close instead, so vim's save (the plist renamed to a backup, then
  written anew) is one change of a plist that exists: a reload, never an
  unload followed by a load;
* anything else (a directory appearing or going): coalesced for
  :data:`QUIET_PERIOD`, which is also the safety net behind the two above.

A plist that is a symbolic link (a dotfiles set-up) is followed: the
directory of its target is watched too, and a change of the target is
reported as a change of the link (its ownership and mode are the target's,
which the domain checks). A directory that does not exist yet is watched
for through its nearest existing ancestor. watchdog itself holds a rename to outside the watched
directories for 0.5 s while it waits for the other half of the move.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Callable, Iterable

from .paths import nearest_existing
from .plist import is_plist_name, plists_in
from .clock import Clock, LoopClock
from .watching import Coalescer, SharedObserver, Watch

log = logging.getLogger("pylaunchd")

QUIET_PERIOD = 0.15  # seconds without events before a batch is handed over
MAX_DELAY = 0.5  # a steady stream of events is still handed over this often
GRACE = 0.002  # a created, deleted or renamed-away name: wait this long for a writer

# "opened" tells a writer from a link or a move; "closed" is a write's end
# (IN_CLOSE_WRITE: the manager's own reads of plists send no "closed").
_FORWARDED = frozenset({"created", "deleted", "moved", "modified", "closed", "attrib", "opened"})


class JobsDirWatcher:
    """Calls ``on_change(paths)`` on the loop with the plist paths that may have
    changed (created, modified, renamed or deleted) in the watched directories.

    *observer* is the manager's shared one (default: the loop's, see
    :meth:`SharedObserver.for_loop`); *clock* times the quiet period (default:
    the loop's). :meth:`start` holds the observer, :meth:`stop` lets it go.
    """

    def __init__(self, dirs: Iterable[str], loop: asyncio.AbstractEventLoop,
                 on_change: Callable[[set[str]], None], *,
                 clock: Clock | None = None, observer: SharedObserver | None = None):
        self.dirs = [os.path.abspath(d) for d in dirs]
        self.loop = loop
        self.on_change = on_change
        self.observer = observer or SharedObserver.for_loop(loop)
        clock = clock or LoopClock(loop)
        self._coalescer = Coalescer(clock, QUIET_PERIOD, MAX_DELAY, self._flush)
        self._grace = Coalescer(clock, GRACE, GRACE, self._deliver)
        self._watches: dict[str, Watch] = {}  # watched directory -> watch
        self._present: dict[str, bool] = {}
        self._links: dict[str, set[str]] = {}  # a link's target (real path) -> the plists linked to it
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.observer.acquire()
        self._follow(self.scan())
        self._rewatch()

    def stop(self) -> None:
        self._coalescer.cancel()
        self._grace.cancel()
        if not self._started:
            return
        self._started = False
        for w in list(self._watches):
            self.observer.unschedule(self._watches.pop(w))
        self.observer.release()

    def scan(self) -> set[str]:
        """Every plist now in the watched directories."""
        found: set[str] = set()
        for d in self.dirs:
            found.update(plists_in(d))
        return found

    def _rewatch(self) -> set[str]:
        """Watch each directory, or its nearest ancestor while it is missing.
        Returns the directories whose existence changed."""
        wanted: set[str] = set()
        changed: set[str] = set()
        for d in self.dirs:
            present = os.path.isdir(d)
            if self._present.get(d, present) != present:
                changed.add(d)
            self._present[d] = present
            wanted.add(d if present else nearest_existing(d))
        wanted |= {os.path.dirname(t) for t in self._links if os.path.isdir(os.path.dirname(t))}
        for w in list(self._watches):
            if w not in wanted:
                self.observer.unschedule(self._watches.pop(w))
        for w in wanted:
            if w not in self._watches:
                try:
                    self._watches[w] = self.observer.schedule(w, self._event, event_types=_FORWARDED)
                except OSError as e:
                    log.warning("cannot watch %s: %s", w, e.strerror or e)
        return changed

    def _event(self, event_type: str, src: str, dest: str) -> None:
        """On the loop: one event from watchdog (see the module docstring)."""
        if not self._started:
            return
        linked = self._links.get(src, set()) | self._links.get(dest, set()) if self._links else set()
        if linked and event_type != "opened":  # a link's target changed: the link's plist did
            if event_type in ("closed", "moved"):
                self._deliver(sorted(linked))
            else:
                for p in linked:
                    self._coalescer.add(p)
            return
        if self._links and os.path.dirname(src) not in self.dirs and not self._is_ancestor(src):
            return  # another file beside a link's target
        job_src, job_dest = self._is_job_file(src), self._is_job_file(dest)
        if event_type == "closed" and job_src:
            self._deliver([src])
        elif event_type == "moved" and job_dest:
            self._deliver([src, dest] if job_src else [dest])  # both: a rename that keeps its job
        elif event_type in ("created", "deleted", "moved") and job_src:
            self._grace.add(src)
            self._coalescer.add(src)
        elif event_type == "opened" and job_src:
            self._grace.discard(src)  # perhaps a writer: then its close tells when the file is whole
        elif event_type == "modified" and job_src:
            self._grace.discard(src)  # a writer: its close tells when the file is whole
            self._coalescer.add(src)
        elif event_type != "opened" and src not in self.dirs:
            self._coalescer.add(src)
            if dest:
                self._coalescer.add(dest)

    def _is_ancestor(self, path: str) -> bool:
        """*path* is in a directory watched for a missing jobs directory."""
        return any(not self._present.get(d, True) and os.path.dirname(path) == nearest_existing(d)
                   for d in self.dirs)

    def _follow(self, paths: Iterable[str]) -> bool:
        """Note which of *paths* are links, and to what; True when the set of
        target directories changed (they must be watched)."""
        before = {os.path.dirname(t) for t in self._links}
        for p in paths:
            for target in [t for t, links in self._links.items() if p in links]:
                self._links[target].discard(p)
                if not self._links[target]:
                    del self._links[target]
            if os.path.islink(p):
                self._links.setdefault(os.path.realpath(p), set()).add(p)
        return {os.path.dirname(t) for t in self._links} != before

    def _is_job_file(self, path: str) -> bool:
        return bool(path) and is_plist_name(path) and os.path.dirname(path) in self.dirs

    def _deliver(self, paths: list[str]) -> None:
        """Report these plist paths now; the slower batches need not again."""
        for p in paths:
            self._grace.discard(p)
            self._coalescer.discard(p)
        if self._follow(paths):
            self._rewatch()
        if self._started and paths:
            self.on_change(set(paths))

    def _flush(self, pending: list[str]) -> None:
        if not self._started:
            return
        changed_dirs = self._rewatch()
        paths = {p for p in pending if is_plist_name(p) and os.path.dirname(p) in self.dirs}
        for d in changed_dirs:
            paths |= {p for p in self.scan() if os.path.dirname(p) == d}
            paths.add(os.path.join(d, ""))  # a directory marker: everything under it may be gone
        if self._follow(p for p in paths if not p.endswith(os.sep)):
            self._rewatch()
        if paths:
            self.on_change(paths)

"""Watching job directories with inotify and reporting changed paths.

The directories are watched by :class:`~pylaunchd.watching.LoopInotify`: an
inotify descriptor read on the event loop itself, no thread between the
kernel and the load (watchdog's three threads cost about 0.65 ms a change,
and their wake-ups slowed the load in progress). A plist is reported the
moment it is complete, so that its socket listens within milliseconds of
the save, and never while it is half written:

* written and closed (``IN_CLOSE_WRITE``), or renamed into its name (an
  editor's temporary file, ``brew services``, a move from elsewhere): at once;
* deleted (unlinked): after :data:`UNLINK_GRACE` (1 ms), unless the name is
  made again meanwhile, or already when the event is read (``install``
  removes the old file before writing the new one): then the events of the
  new file tell when it is whole, one change, a reload. 1 ms is the
  loop's shortest sleep (epoll counts milliseconds): the manager's wake-up
  on the removal often preempts the very process that removed the file,
  which makes the name again as soon as the manager sleeps once. Acting at
  once, the manager lost that race to ``install`` 15 times in 40 here;
  with 1 ms, 2 in 160, as with 2 ms;
* created without being opened for writing (a symlink, a hard link), or
  renamed away: after :data:`GRACE` (2 ms) — a name that is opened for
  writing meanwhile waits for its close instead, so vim's save (the plist
  renamed to a backup, then written anew) is one change of a plist that
  exists: a reload, never an unload followed by a load;
* anything else (a directory appearing or going, a watched directory
  deleted or moved, an overflow of the kernel's queue): coalesced for
  :data:`QUIET_PERIOD`, which is also the safety net behind the above;
* the other files of a jobs directory (an editor's temporary file, a
  backup): nothing, not even a timer.

A plist that is a symbolic link (a dotfiles set-up) is followed: the
directory of its target is watched too, and a change of the target is
reported as a change of the link (its ownership and mode are the target's,
which the domain checks). A directory that does not exist yet is watched
for through its nearest existing ancestor.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Callable, Iterable

from .paths import nearest_existing
from .plist import is_plist_name, plists_in
from .clock import Clock, LoopClock
from .watching import Coalescer, LoopInotify

log = logging.getLogger("pylaunchd")

QUIET_PERIOD = 0.15  # seconds without events before a batch is handed over
MAX_DELAY = 0.5  # a steady stream of events is still handed over this often
GRACE = 0.002  # a created or renamed-away name: wait this long for a writer
UNLINK_GRACE = 0.001  # a deleted name: one sleep of the loop, for the writer of a new file


class JobsDirWatcher:
    """Calls ``on_change(paths)`` on the loop with the plist paths that may have
    changed (created, modified, renamed or deleted) in the watched directories.

    *clock* times the quiet period (default: the loop's). :meth:`start`
    opens the inotify descriptor, :meth:`stop` closes it.
    """

    def __init__(self, dirs: Iterable[str], loop: asyncio.AbstractEventLoop,
                 on_change: Callable[[set[str]], None], *, clock: Clock | None = None):
        self.dirs = [os.path.abspath(d) for d in dirs]
        self.loop = loop
        self.on_change = on_change
        clock = clock or LoopClock(loop)
        self._coalescer = Coalescer(clock, QUIET_PERIOD, MAX_DELAY, self._flush)
        self._grace = Coalescer(clock, GRACE, GRACE, self._deliver)
        self._unlinked = Coalescer(clock, UNLINK_GRACE, UNLINK_GRACE, self._deliver)
        self._inotify: LoopInotify | None = None  # made by start()
        self._watches: set[str] = set()  # the directories under a watch
        self._present: dict[str, bool] = {}
        self._links: dict[str, set[str]] = {}  # a link's target (real path) -> the plists linked to it
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._inotify = LoopInotify(self.loop, self._event)
        self._follow(self.scan())
        self._rewatch()

    def stop(self) -> None:
        self._coalescer.cancel()
        self._grace.cancel()
        self._unlinked.cancel()
        if not self._started:
            return
        self._started = False
        self._watches.clear()
        self._inotify.close()
        self._inotify = None

    @property
    def watched(self) -> list[str]:
        """The directories now under a watch (for tests and diagnostics)."""
        return sorted(self._watches)

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
                self._watches.discard(w)
                self._inotify.unwatch(w)
        for w in sorted(wanted - self._watches):
            try:
                self._inotify.watch(w)
            except OSError as e:
                log.warning("cannot watch %s: %s", w, e.strerror or e)
            else:
                self._watches.add(w)
        return changed

    def _event(self, event_type: str, src: str, dest: str) -> None:
        """On the loop: one event of the inotify reader (see the module docstring)."""
        if not self._started:
            return
        if event_type == "gone":  # a watched directory deleted or moved: watch again what is there now
            self._watches.discard(src)
            self._coalescer.add(os.path.join(src, "") if src in self.dirs else src)
            return
        if event_type == "overflow":  # events were lost: every directory may have changed
            for d in self.dirs:
                self._coalescer.add(os.path.join(d, ""))
            return
        linked = self._links.get(src, set()) | self._links.get(dest, set()) if self._links else set()
        if linked and event_type != "opened":  # a link's target changed: the link's plist did
            if event_type in ("closed", "moved"):
                self._deliver(sorted(linked))
            else:
                for p in linked:
                    self._coalescer.add(p)
            return
        if self._links and os.path.dirname(src or dest) not in self.dirs and not self._is_ancestor(src or dest):
            return  # another file beside a link's target
        job_src, job_dest = self._is_job_file(src), self._is_job_file(dest)
        if event_type == "closed" and job_src:
            self._deliver([src])
        elif event_type == "moved" and job_dest:
            self._deliver([src, dest] if job_src else [dest])  # both: a rename that keeps its job
        elif event_type in ("deleted", "moved") and job_src and os.path.lexists(src):
            self._coalescer.add(src)  # made again already: its own events, queued after this one, follow
        elif event_type == "deleted" and job_src:
            self._unlinked.add(src)  # and the name is still gone: one sleep for a writer of a new file
            self._coalescer.add(src)
        elif event_type in ("created", "moved") and job_src:
            self._unlinked.discard(src)  # made again (created), or taken away (moved) from the removal
            self._grace.add(src)  # a link, or renamed away (vim's backup): a writer may follow
            self._coalescer.add(src)
        elif event_type == "opened" and job_src:
            self._grace.discard(src)  # perhaps a writer: then its close tells when the file is whole
            self._unlinked.discard(src)
        elif event_type == "modified" and job_src:
            self._grace.discard(src)  # a writer: its close tells when the file is whole
            self._unlinked.discard(src)
            self._coalescer.add(src)
        elif event_type != "opened":
            for p in (src, dest):
                if p and not self._beside(p):
                    self._coalescer.add(p)

    def _beside(self, path: str) -> bool:
        """*path* is another file of a jobs directory (an editor's temporary
        file, a backup): nothing the watcher looks for, so no batch, no timer."""
        return (not is_plist_name(path) and os.path.dirname(path) in self.dirs and path not in self.dirs
                and not self._is_ancestor(path))

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
            self._unlinked.discard(p)
            self._coalescer.discard(p)
        if self._follow(paths):
            self._rewatch()
        if self._started and paths:
            self.on_change(set(paths))

    def _flush(self, pending: list[str]) -> None:
        if not self._started:
            return
        changed_dirs = self._rewatch()
        changed_dirs |= {p.rstrip(os.sep) for p in pending if p.endswith(os.sep)}  # a directory gone, an overflow
        paths = {p for p in pending if is_plist_name(p) and os.path.dirname(p) in self.dirs}
        for d in changed_dirs:
            paths |= {p for p in self.scan() if os.path.dirname(p) == d}
            paths.add(os.path.join(d, ""))  # a directory marker: everything under it may be gone
        if self._follow(p for p in paths if not p.endswith(os.sep)):
            self._rewatch()
        if paths:
            self.on_change(paths)

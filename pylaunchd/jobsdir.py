"""Watching job directories with watchdog (inotify) and reporting changed paths.

Events arrive on watchdog's thread; they are handed to the event loop and
coalesced for a short quiet period, so an editor's save (write a temporary
file, rename it over the plist) reaches the manager as one change of the plist:
a reload, never an unload followed by a load. A directory that does not exist
yet is watched for through its nearest existing ancestor.
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

# Every event but those of reading: the manager opening a plist to load it must
# not look like a change of it. "closed" (after a write) is kept: an in-place
# save may end with it.
_FORWARDED = frozenset({"created", "deleted", "moved", "modified", "closed", "attrib"})


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
        self._coalescer = Coalescer(clock or LoopClock(loop), QUIET_PERIOD, MAX_DELAY, self._flush)
        self._watches: dict[str, Watch] = {}  # watched directory -> watch
        self._present: dict[str, bool] = {}
        self._started = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self.observer.acquire()
        self._rewatch()

    def stop(self) -> None:
        self._coalescer.cancel()
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
        """On the loop: one event from watchdog."""
        if not self._started:
            return
        self._coalescer.add(src)
        if dest:
            self._coalescer.add(dest)

    def _flush(self, pending: list[str]) -> None:
        if not self._started:
            return
        changed_dirs = self._rewatch()
        paths = {p for p in pending if is_plist_name(p) and os.path.dirname(p) in self.dirs}
        for d in changed_dirs:
            paths |= {p for p in self.scan() if os.path.dirname(p) == d}
            paths.add(os.path.join(d, ""))  # a directory marker: everything under it may be gone
        if paths:
            self.on_change(paths)

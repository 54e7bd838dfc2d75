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

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from .plist import is_plist_name, plists_in
from .paths import nearest_existing

log = logging.getLogger("pylaunchd")

QUIET_PERIOD = 0.15  # seconds without events before a batch is handed over
MAX_DELAY = 0.5  # a steady stream of events is still handed over this often


class _Forward(FileSystemEventHandler):
    def __init__(self, loop: asyncio.AbstractEventLoop, sink: Callable[[set[str]], None]):
        self.loop = loop
        self.sink = sink

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        paths = {os.fsdecode(event.src_path)}
        dest = getattr(event, "dest_path", "")
        if dest:
            paths.add(os.fsdecode(dest))
        try:
            self.loop.call_soon_threadsafe(self.sink, paths)
        except RuntimeError:  # loop closed during shutdown
            pass


class JobsDirWatcher:
    """Calls ``on_change(paths)`` on the loop with the plist paths that may have
    changed (created, modified, renamed or deleted) in the watched directories."""

    def __init__(self, dirs: Iterable[str], loop: asyncio.AbstractEventLoop,
                 on_change: Callable[[set[str]], None]):
        self.dirs = [os.path.abspath(d) for d in dirs]
        self.loop = loop
        self.on_change = on_change
        self.observer = Observer()
        self.observer.daemon = True
        self._handler = _Forward(loop, self._events)
        self._watches: dict[str, object] = {}  # watched directory -> watchdog handle
        self._present: dict[str, bool] = {}
        self._pending: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._first_pending: float | None = None

    def start(self) -> None:
        self._rewatch()
        self.observer.start()

    def stop(self) -> None:
        if self._timer:
            self._timer.cancel()
        self.observer.stop()
        self.observer.join(timeout=2)

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
                try:
                    self.observer.unschedule(self._watches.pop(w))
                except (KeyError, ValueError):
                    self._watches.pop(w, None)
        for w in wanted:
            if w not in self._watches:
                try:
                    self._watches[w] = self.observer.schedule(self._handler, w, recursive=False)
                except OSError as e:
                    log.warning("cannot watch %s: %s", w, e.strerror or e)
        return changed

    def _events(self, paths: set[str]) -> None:
        self._pending |= paths
        now = self.loop.time()
        if self._first_pending is None:
            self._first_pending = now
        if self._timer:
            self._timer.cancel()
        at = min(now + QUIET_PERIOD, self._first_pending + MAX_DELAY)
        self._timer = self.loop.call_at(at, self._flush)

    def _flush(self) -> None:
        self._timer = None
        self._first_pending = None
        pending, self._pending = self._pending, set()
        changed_dirs = self._rewatch()
        paths = {p for p in pending if is_plist_name(p) and os.path.dirname(p) in self.dirs}
        for d in changed_dirs:
            paths |= {p for p in self.scan() if os.path.dirname(p) == d}
            paths.add(os.path.join(d, ""))  # a directory marker: everything under it may be gone
        if paths:
            self.on_change(paths)

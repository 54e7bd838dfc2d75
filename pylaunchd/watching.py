"""The watcher plumbing shared by jobsdir.py and triggers.py.

Two pieces, each written once:

* :class:`SharedObserver` owns the manager's one watchdog ``Observer`` (one
  dispatch thread; watchdog adds one emitter thread per watched directory).
  ``schedule(directory, sink)`` forwards each event from watchdog's thread to
  the event loop (``call_soon_threadsafe``) and calls ``sink(event_type, src,
  dest)`` there; nothing else runs on watchdog's threads. Users hold the
  observer with :meth:`~SharedObserver.acquire` / :meth:`~SharedObserver.release`:
  the thread starts with the first holder and stops (joined) when the last one
  lets go, so whoever stops last does not stop the other's events.
* :class:`Coalescer` batches items (events) for a quiet period: ``flush(batch)``
  runs once no item has arrived for *quiet* seconds, or *max_delay* seconds
  after the first item of the batch, whichever is sooner. A burst (an editor's
  temp file and rename) is one batch; a steady stream is still handed over.
  It reads time and schedules only through a *clock* (``monotonic()`` and
  ``call_at(when, callback, *args)`` returning a handle with ``cancel()``), so
  tests drive it with a fake clock and no sleeps.

Sharing one observer between two users: watchdog keys a watch by (path,
recursive, event filter, follow_symlink) and ``unschedule`` drops every handler
of that key. Each :meth:`~SharedObserver.schedule` therefore gets a handler of
its own, and :meth:`~SharedObserver.unschedule` removes only that handler while
another user still watches the same key.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from dataclasses import dataclass
from typing import Callable, Iterable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from .clock import Clock, Handle

__all__ = ["Coalescer", "SharedObserver", "Watch", "Sink"]

Sink = Callable[[str, str, str], None]  # (event_type, src_path, dest_path or "")


# --- coalescing -------------------------------------------------------------------

class Coalescer:
    """Collects items and calls ``flush(batch)`` (a list, in arrival order)
    *quiet* seconds after the latest item, but no later than *max_delay*
    seconds after the first item of the batch. Never before *quiet* seconds
    have passed since the first item, unless *max_delay* is shorter. Runs on
    the loop thread; an item added during ``flush`` starts the next batch."""

    def __init__(self, clock: Clock, quiet: float, max_delay: float,
                 flush: Callable[[list], None]):
        self.clock = clock
        self.quiet = quiet
        self.max_delay = max_delay
        self._flush = flush
        self._batch: list = []
        self._first: float | None = None  # when the batch's first item came
        self._timer: Handle | None = None

    def add(self, item: object) -> None:
        self._batch.append(item)
        now = self.clock.monotonic()
        if self._first is None:
            self._first = now
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self.clock.call_at(min(now + self.quiet, self._first + self.max_delay), self._fire)

    def discard(self, item: object) -> None:
        """Take *item* out of the batch in progress (every time it was added);
        an emptied batch is not flushed."""
        if item not in self._batch:
            return
        self._batch = [i for i in self._batch if i != item]
        if not self._batch:
            self.cancel()

    def cancel(self) -> None:
        """Drop the batch in progress; no flush follows."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._first = None
        self._batch = []

    @property
    def pending(self) -> bool:
        return bool(self._batch)

    def _fire(self) -> None:
        batch, self._batch = self._batch, []
        self._timer = None
        self._first = None
        self._flush(batch)


# --- the observer ------------------------------------------------------------------

class _Forward(FileSystemEventHandler):
    """Runs on watchdog's thread: hands each event to the loop, nothing more."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: Sink, event_types: frozenset[str] | None):
        self.loop = loop
        self.sink = sink
        self.event_types = event_types

    def on_any_event(self, event: FileSystemEvent) -> None:
        if self.event_types is not None and event.event_type not in self.event_types:
            return
        try:
            self.loop.call_soon_threadsafe(self.sink, event.event_type, os.fsdecode(event.src_path),
                                           os.fsdecode(getattr(event, "dest_path", "") or ""))
        except RuntimeError:  # loop closed during shutdown
            pass


@dataclass(frozen=True, eq=False)
class Watch:
    """One :meth:`SharedObserver.schedule`: watchdog's watch and our handler on it."""

    directory: str
    handle: ObservedWatch
    handler: _Forward
    observer: Observer  # the one it was scheduled on: a watch outlived by its observer is gone


class SharedObserver:
    """The one watchdog Observer of a manager; see the module docstring.

    Methods must be called on the loop thread. :meth:`for_loop` gives the
    loop's default instance, used by watchers built without an observer, so
    that they, too, share one thread.
    """

    _defaults: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedObserver]" = \
        weakref.WeakKeyDictionary()

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self.loop = loop
        self._observer: Observer | None = None
        self._holders = 0
        self._handlers: dict[ObservedWatch, int] = {}  # watchdog watch -> our handlers on it

    @classmethod
    def for_loop(cls, loop: asyncio.AbstractEventLoop) -> "SharedObserver":
        shared = cls._defaults.get(loop)
        if shared is None:
            shared = cls._defaults[loop] = cls(loop)
        return shared

    @property
    def running(self) -> bool:
        return self._observer is not None

    def acquire(self) -> None:
        """Hold the observer; its thread starts with the first holder."""
        self._holders += 1
        if self._observer is None:
            self._observer = Observer()
            self._observer.daemon = True
            self._observer.start()

    def release(self) -> None:
        """Let go; the last holder's release stops and joins the thread."""
        if self._holders > 0:
            self._holders -= 1
        if self._holders == 0:
            self.stop()

    def stop(self) -> None:
        """Stop the thread now, whoever holds it (idempotent). Every watch is
        dropped; a later :meth:`acquire` starts a fresh observer."""
        observer, self._observer = self._observer, None
        self._holders = 0
        self._handlers.clear()
        if observer is not None:
            observer.stop()
            observer.join(timeout=2)

    def schedule(self, directory: str, sink: Sink, *, event_types: Iterable[str] | None = None,
                 event_filter: list[type[FileSystemEvent]] | None = None,
                 follow_symlink: bool = False) -> Watch:
        """Watch *directory* (not recursively) and call ``sink(event_type, src,
        dest)`` on the loop for each event whose type is in *event_types* (all
        if None). *event_filter* narrows what watchdog asks of inotify. Raises
        OSError if the directory cannot be watched."""
        if self._observer is None:
            raise RuntimeError("SharedObserver.schedule() before acquire()")
        handler = _Forward(self.loop, sink, frozenset(event_types) if event_types is not None else None)
        handle = self._observer.schedule(handler, directory, recursive=False,
                                         event_filter=event_filter, follow_symlink=follow_symlink)
        self._handlers[handle] = self._handlers.get(handle, 0) + 1
        return Watch(directory, handle, handler, self._observer)

    def unschedule(self, watch: Watch) -> None:
        """Stop *watch*'s events; the inotify watch goes with the last handler on it."""
        if self._observer is None or watch.observer is not self._observer:
            return  # stopped since: every watch went with it
        left = self._handlers.get(watch.handle, 0) - 1
        try:
            if left > 0:
                self._handlers[watch.handle] = left
                self._observer.remove_handler_for_watch(watch.handler, watch.handle)
            else:
                self._handlers.pop(watch.handle, None)
                self._observer.unschedule(watch.handle)
        except (KeyError, ValueError):
            pass

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

And a third, for the job directories, where milliseconds count:

* :class:`LoopInotify` reads an inotify descriptor of its own on the event
  loop (``loop.add_reader``), with no thread. watchdog hands each event over
  three threads (inotify reader, emitter, dispatcher) before the loop: about
  0.65 ms a change measured here, and its threads, woken by the manager's own
  read of the plist, took the GIL from the load in progress. It gives the
  same ``sink(event_type, src, dest)`` calls, in watchdog's words:
  ``created``, ``opened``, ``modified``, ``closed`` (closed after writing),
  ``attrib``, ``deleted``, and ``moved`` (``src`` or ``dest`` is ``""`` for
  the half of a rename whose other half is not in a watched directory), plus
  ``gone`` (src: a watched directory itself was deleted or moved; its watch is
  over) and ``overflow`` (the kernel's queue overflowed: events were lost).
  The two halves of a rename are paired by their cookie, within one read and
  across reads.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import struct
import weakref
from dataclasses import dataclass
from typing import Callable, Iterable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import ObservedWatch

from .clock import Clock, Handle

__all__ = ["Coalescer", "LoopInotify", "SharedObserver", "Watch", "Sink"]

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


# --- inotify on the loop -----------------------------------------------------------

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE, IN_OPEN = 0x2, 0x4, 0x8, 0x20
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_Q_OVERFLOW, IN_IGNORED = 0x400, 0x800, 0x4000, 0x8000
IN_ONLYDIR, IN_EXCL_UNLINK = 0x01000000, 0x04000000
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC  # inotify_init1's flags are these

# What a job directory's watch asks for. Not IN_CLOSE_NOWRITE nor IN_ACCESS:
# the manager's own read of a plist then costs one event (IN_OPEN), not three.
DIRECTORY_EVENTS = (IN_CREATE | IN_OPEN | IN_MODIFY | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE | IN_MOVED_FROM
                    | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)
_NAMES = ((IN_CREATE, "created"), (IN_OPEN, "opened"), (IN_MODIFY, "modified"), (IN_CLOSE_WRITE, "closed"),
          (IN_ATTRIB, "attrib"), (IN_DELETE, "deleted"))
_HEADER = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name
_READ_SIZE = 64 * 1024
_COOKIES_KEPT = 64  # renamed-away names remembered for a later other half

_libc = None


def _call(name: str, *args) -> int:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    result = getattr(_libc, name)(*args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


class LoopInotify:
    """Directories watched (not recursively) by one inotify descriptor read
    on the loop; calls ``sink(event_type, src, dest)`` from the loop's reader
    callback (see the module docstring). Methods run on the loop thread;
    :meth:`close` ends every watch, and no call is made afterwards."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: Sink, mask: int = DIRECTORY_EVENTS):
        self.loop = loop
        self.sink = sink
        self.mask = mask
        self._fd: int | None = None
        self._dirs: dict[int, list[str]] = {}  # watch descriptor -> the directories (paths) it watches
        self._wds: dict[str, int] = {}  # directory -> its watch descriptor
        self._moved_from: dict[int, str] = {}  # cookie -> a path renamed away, whose other half may follow
        self._closed = False

    @property
    def watched(self) -> list[str]:
        return sorted(self._wds)

    def watch(self, directory: str) -> None:
        """Watch *directory* (a path; a link to a directory is followed).
        Raises OSError when it cannot be watched (missing, not a directory,
        out of watches)."""
        if self._closed:
            raise RuntimeError("LoopInotify.watch() after close()")
        if directory in self._wds:
            return
        if self._fd is None:
            self._fd = _call("inotify_init1", IN_NONBLOCK | IN_CLOEXEC)
            self.loop.add_reader(self._fd, self._readable)
        wd = _call("inotify_add_watch", self._fd, os.fsencode(directory),
                   ctypes.c_uint32(self.mask | IN_ONLYDIR | IN_EXCL_UNLINK))
        self._wds[directory] = wd
        self._dirs.setdefault(wd, []).append(directory)  # two paths to one directory share its watch

    def unwatch(self, directory: str) -> None:
        wd = self._wds.pop(directory, None)
        if wd is None:
            return
        dirs = self._dirs.get(wd, [])
        if directory in dirs:
            dirs.remove(directory)
        if not dirs:
            self._dirs.pop(wd, None)
            try:
                _call("inotify_rm_watch", self._fd, wd)
            except OSError:
                pass  # gone with its directory already

    def close(self) -> None:
        self._closed = True
        fd, self._fd = self._fd, None
        self._dirs.clear()
        self._wds.clear()
        self._moved_from.clear()
        if fd is not None:
            self.loop.remove_reader(fd)
            os.close(fd)

    def _readable(self) -> None:
        if self._closed:
            return
        try:
            data = os.read(self._fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        self.handle(data)

    def handle(self, data: bytes) -> None:
        """The events of one read (``struct inotify_event`` records), in order."""
        events = []
        offset = 0
        while offset + _HEADER.size <= len(data):
            wd, mask, cookie, length = _HEADER.unpack_from(data, offset)
            offset += _HEADER.size
            name = data[offset:offset + length].split(b"\0", 1)[0]
            offset += length
            events.append((wd, mask, cookie, os.fsdecode(name)))
        tos: dict[int, int] = {}  # cookie -> the index of its IN_MOVED_TO in this read
        for i, (_, mask, cookie, _) in enumerate(events):
            if mask & IN_MOVED_TO:
                tos.setdefault(cookie, i)
        paired: set[int] = set()  # the IN_MOVED_TOs reported with their IN_MOVED_FROM
        for i, (wd, mask, cookie, name) in enumerate(events):
            if self._closed:
                return  # by the sink
            if i in paired:
                continue
            j = tos.pop(cookie, None) if mask & IN_MOVED_FROM else None
            if j is not None:
                paired.add(j)
                src, dest = self._path(wd, name), self._path(events[j][0], events[j][3])
                if src or dest:
                    self.sink("moved", src, dest)
                continue
            self._one(wd, mask, cookie, name)

    def _path(self, wd: int, name: str) -> str:
        """The path of *name* in the directory of *wd* ("" if no longer watched)."""
        dirs = self._dirs.get(wd)
        return os.path.join(dirs[0], name) if dirs else ""

    def _one(self, wd: int, mask: int, cookie: int, name: str) -> None:
        if mask & IN_Q_OVERFLOW:
            self._moved_from.clear()
            self.sink("overflow", "", "")
            return
        dirs = self._dirs.get(wd)
        if not dirs:
            return  # a watch removed since (IN_IGNORED, or events queued before its removal)
        if mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED):
            for d in list(dirs):  # the watch is over: a moved directory's watch would follow it elsewhere
                self.unwatch(d)
                self.sink("gone", d, "")
            return
        if mask & IN_MOVED_FROM:  # renamed away: the other half is elsewhere, or in the next read
            self._moved_from[cookie] = os.path.join(dirs[0], name)
            while len(self._moved_from) > _COOKIES_KEPT:
                del self._moved_from[next(iter(self._moved_from))]
            self.sink("moved", os.path.join(dirs[0], name), "")
            return
        if mask & IN_MOVED_TO:  # renamed in: from elsewhere, or paired with a source of an earlier read
            self.sink("moved", self._moved_from.pop(cookie, ""), os.path.join(dirs[0], name))
            return
        for bit, event_type in _NAMES:
            if mask & bit:
                for d in dirs:
                    self.sink(event_type, os.path.join(d, name), "")

"""Time, behind one object that tests can replace.

Everything in the manager that reads the time or waits for it goes through a
:class:`Clock`: the job timers (throttle, ExitTimeOut, StartInterval),
StartCalendarInterval, the coalescing of file-system events, the time stamps
shown by ``print``. :class:`LoopClock` is the real one, on the asyncio loop's
monotonic clock and the system's wall clock. :class:`FakeClock` is for tests:
time stands still until the test moves it, and it can jump the way real
clocks do, so timer logic runs through the real manager code at once:

* :meth:`FakeClock.advance` — time passes: both clocks move, and every timer
  that falls due fires, in order, each seeing its own due time;
* :meth:`FakeClock.suspend` — the machine sleeps: the wall clock moves, the
  monotonic clock does not (Linux's ``CLOCK_MONOTONIC`` stops in suspend), and
  nothing fires until time passes again;
* :meth:`FakeClock.set_wall` — someone sets the wall clock (NTP, a user).
"""

from __future__ import annotations

import asyncio
import datetime
import heapq
import itertools
import time
from typing import Any, Callable, Protocol


class Handle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps (the loop's time)."""

    def wall(self) -> datetime.datetime:
        """The local wall-clock time, naive, as ``datetime.now()``."""

    def timestamp(self) -> float:
        """Seconds since the epoch (``time.time()``)."""

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Handle:
        """Call *callback* on the loop once :meth:`monotonic` reaches *when*."""


class LoopClock:
    """The real clock: the asyncio loop's monotonic time and the system's wall clock."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None):
        self.loop = loop or asyncio.get_running_loop()

    def monotonic(self) -> float:
        return self.loop.time()

    def wall(self) -> datetime.datetime:
        return datetime.datetime.now()

    def timestamp(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> Handle:
        return self.loop.call_at(when, callback, *args)


class _FakeHandle:
    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback: Callable[..., Any], args: tuple):
        self.when, self.callback, self.args, self.cancelled = when, callback, args, False

    def cancel(self) -> None:
        self.cancelled = True


class FakeClock:
    """A clock that moves only when told (see the module docstring).

    Callbacks run synchronously inside :meth:`advance`, in due order (ties in
    the order they were set), on whatever thread calls it: call it from the
    loop's thread, as the real loop would run them.
    """

    def __init__(self, wall: datetime.datetime | None = None, monotonic: float = 1000.0):
        self._mono = monotonic
        self._wall = wall or datetime.datetime(2026, 1, 5, 12, 0, 0)
        self._heap: list[tuple[float, int, _FakeHandle]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._mono

    def wall(self) -> datetime.datetime:
        return self._wall

    def timestamp(self) -> float:
        return self._wall.timestamp()

    def call_at(self, when: float, callback: Callable[..., Any], *args: Any) -> _FakeHandle:
        handle = _FakeHandle(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._seq), handle))
        return handle

    def pending(self) -> list[float]:
        """The due times of the timers not yet fired nor cancelled, soonest first."""
        return sorted(h.when for _, _, h in self._heap if not h.cancelled)

    def advance(self, seconds: float) -> None:
        """Let *seconds* pass, firing every timer that falls due meanwhile."""
        if seconds < 0:
            raise ValueError("time does not run backwards; use set_wall for a wall-clock change")
        end = self._mono + seconds
        while self._heap and self._heap[0][0] <= end:
            when, _, handle = heapq.heappop(self._heap)
            if handle.cancelled:
                continue
            self._move(max(when, self._mono))
            handle.callback(*handle.args)
        self._move(end)

    def suspend(self, seconds: float) -> None:
        """The machine sleeps for *seconds*: wall time passes, monotonic time does not."""
        self._wall += datetime.timedelta(seconds=seconds)

    def set_wall(self, wall: datetime.datetime) -> None:
        """The wall clock is set to *wall*; monotonic time does not move."""
        self._wall = wall

    def _move(self, mono: float) -> None:
        self._wall += datetime.timedelta(seconds=mono - self._mono)
        self._mono = mono

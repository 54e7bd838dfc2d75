"""StartCalendarInterval on the clock: the timer that drives :mod:`pylaunchd.triggers.calendar`.

:class:`CalendarTimer` follows the recipe of calendar.py's docstring: at arm
time it finds the next firing strictly after now (nothing missed while the
manager was not running is caught up); each time its timer fires it compares
with the wall clock, fires once for every firing that came due since (a
suspend's worth of missed firings is one start, as launchd), finds the next
one, and re-arms. Its timer waits at most a minute
(:data:`pylaunchd.triggers.calendar.MAX_TIMER_WAIT`), so a suspend or a wall-clock
change costs at most a minute's delay.
"""

from __future__ import annotations

import datetime
from typing import Callable

from . import calendar
from ..clock import Clock, Handle


class CalendarTimer:
    def __init__(self, clock: Clock, schedules: tuple[calendar.CalendarInterval, ...], fire: Callable[[], None]):
        self.clock = clock
        self.schedules = schedules
        self.fire = fire
        self.at: datetime.datetime | None = calendar.next_fire(schedules, clock.wall())
        self._handle: Handle | None = None
        self._arm()

    def _arm(self) -> None:
        deadline = calendar.monotonic_deadline(self.at, self.clock.wall(), self.clock.monotonic())
        self._handle = self.clock.call_at(deadline, self._tick)

    def _tick(self) -> None:
        wall = self.clock.wall()
        if self.at is not None and calendar.is_due(self.at, wall):
            self.at = calendar.next_fire(self.schedules, wall)
            self.fire()
        if self._handle is not None:  # not cancelled by fire()
            self._arm()

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

"""``StartCalendarInterval``: launchd's cron-like schedules, as pure functions.

Nothing here reads a clock, sleeps or touches a process; every function is
given the times it works on, so the semantics are tested on a fake clock.

Schedules
---------
A schedule is a dictionary with optional integer keys ``Minute`` (0-59),
``Hour`` (0-23), ``Day`` (1-31, day of the month), ``Weekday`` (0-7, 0 and 7
are Sunday) and ``Month`` (1-12). A missing key is a wildcard, as in cron:
``{Hour: 3}`` fires every minute from 03:00 to 03:59, ``{Minute: 30}`` hourly
at :30, ``{}`` every minute. When both ``Day`` and ``Weekday`` are given the
schedule fires when *either* matches (cron's OR rule); the other keys must all
match. ``StartCalendarInterval`` is one dictionary or an array of them; the job
fires when any matches. A day that does not exist is simply skipped: ``Day``
31 fires only in months with 31 days, ``{Day: 29, Month: 2}`` only in leap
years, ``{Day: 31, Month: 2}`` never (:func:`next_fire` returns ``None``).

:func:`validate_schedules` turns the raw plist value into a tuple of
:class:`CalendarInterval` plus warnings, the way launchd 842 does it (see the
function). :func:`next_fire` finds the next firing; the search starts at the
first whole minute strictly after ``after`` and looks at most
:data:`SEARCH_DAYS` ahead (just over 9 years: enough for ``Day 29 Month 2``
across a century year that is not a leap year, 2096 -> 2104).

Time and daylight saving
------------------------
Firing times are local wall-clock times, minute resolution. A *naive*
datetime (``datetime.now()``) is local time of this process (``TZ``,
``/etc/localtime``), as Python's ``datetime.timestamp()`` treats it; an
*aware* datetime is wall-clock time in its own ``tzinfo`` and the result is
aware in the same zone. Schedules are matched on the wall clock, then:

* a wall time that does not exist (the hour skipped when clocks go forward) is
  skipped: ``{Hour: 2, Minute: 30}`` does not fire on that day at all;
* a wall time that occurs twice (the hour repeated when clocks go back) fires
  once, at its first occurrence; the repeat is not a new firing. A returned
  time in that hour has ``fold=0``.

Compare times with :func:`is_due` / :func:`seconds_until`, which compare
real instants, never with ``<`` on naive datetimes, which ignores ``fold`` and
so is wrong during the repeated hour.

How the manager uses it (missed firings and suspend)
----------------------------------------------------
launchd runs a calendar job once when the machine wakes for any number of
firings it missed while asleep, and does not catch up time spent powered
off. With these functions::

    # load (or reload): the next firing strictly after now; nothing missed
    # while pylaunchd was not running is caught up (powered off).
    at = next_fire(schedules, wall_now)
    set_timer(monotonic_deadline(at, wall_now, mono_now))      # if at is not None

    # timer fired, or the loop saw the wall clock jump (resume from suspend,
    # clock set forward or back):
    if at is not None and is_due(at, wall_now):
        want_start("StartCalendarInterval")                     # exactly once
        at = next_fire(schedules, wall_now)                     # every firing up
                                                                # to now is coalesced
    set_timer(monotonic_deadline(at, wall_now, mono_now))      # re-arm (may be early)

A firing that comes while the job is still running becomes one pending start,
like every other trigger ([842] merges them); that is the job state machine's
business, not this module's.

The monotonic clock (``CLOCK_MONOTONIC``, asyncio's clock) stops during
suspend and knows nothing of wall-clock changes, so a timer armed for the full
wait would fire hours late after a resume. :func:`monotonic_deadline` therefore
caps the wait at :data:`MAX_TIMER_WAIT` seconds (60): the manager re-checks at
least once a minute, so a firing missed during a suspend starts within a
minute of waking, and a clock set backwards only costs re-arming.
:func:`missed` answers "did at least one firing fall in (since, now]?" for a
manager that tracks the last check time instead of ``at``.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

from ..plistvalues import WARNING, Problem, describe

TYPE_CHECKING = False  # typing is not imported on the way to the first spawn
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Union
    Schedules = Union["CalendarInterval", Iterable["CalendarInterval"]]

__all__ = ["CalendarInterval", "CalendarError", "validate_schedules", "next_fire", "missed", "is_due",
           "seconds_until", "monotonic_deadline", "MAX_TIMER_WAIT", "SEARCH_DAYS"]

# The search for the next firing stops this many days after its start. The
# longest gap between firings of a satisfiable schedule is Feb 29 across a
# non-leap century year: 2096-02-29 -> 2104-02-29, 2921 days.
SEARCH_DAYS = 9 * 366

# monotonic_deadline never waits longer than this, so suspend and wall-clock
# changes are noticed within a minute (see the module docstring).
MAX_TIMER_WAIT = 60.0

KEY_PATH = "StartCalendarInterval"

# canonical key -> (attribute, low, high) as validated by launchd 842
# (Month 0 passes validation and becomes a wildcard).
_FIELDS: dict[str, tuple[str, int, int]] = {
    "Minute": ("minute", 0, 59),
    "Hour": ("hour", 0, 23),
    "Day": ("day", 1, 31),
    "Weekday": ("weekday", 0, 7),
    "Month": ("month", 0, 12),
}
_BY_LOWER = {k.lower(): k for k in _FIELDS}
_ORDER = ("Minute", "Hour", "Day", "Weekday", "Month")


class CalendarError(ValueError):
    """A ``StartCalendarInterval`` value that cannot be used at all.

    ``key_path``, ``expected`` and ``found`` have the shape of
    :class:`pylaunchd.plistvalues.SpecError`'s arguments.
    """

    def __init__(self, key_path: str, expected: str, found: str):
        self.key_path = key_path
        self.expected = expected
        self.found = found
        super().__init__(f"{key_path}: expected {expected}, found {found}")


@dataclass(frozen=True)
class CalendarInterval:
    """One schedule; ``None`` is a wildcard. ``weekday`` 7 is stored as 0 (Sunday)."""

    minute: int | None = None
    hour: int | None = None
    day: int | None = None
    weekday: int | None = None
    month: int | None = None

    def __post_init__(self) -> None:
        for key in _ORDER:
            attr, low, high = _FIELDS[key]
            if key == "Month":
                low = 1
            value = getattr(self, attr)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ValueError(f"{key} must be an integer {low}..{high} or None, not {value!r}")
        if self.weekday == 7:
            object.__setattr__(self, "weekday", 0)

    # matching ------------------------------------------------------------
    def matches_day(self, d: _dt.date) -> bool:
        """Month, and Day/Weekday with cron's OR rule when both are set."""
        if self.month is not None and d.month != self.month:
            return False
        if self.day is None and self.weekday is None:
            return True
        if self.day is not None and d.day == self.day:
            return True
        # date.weekday(): Monday 0 .. Sunday 6; launchd: Sunday 0 .. Saturday 6.
        return self.weekday is not None and (d.weekday() + 1) % 7 == self.weekday

    def matches(self, when: _dt.datetime) -> bool:
        """Whether the wall-clock minute of *when* is a firing of this schedule."""
        return (self.matches_day(when.date())
                and (self.hour is None or when.hour == self.hour)
                and (self.minute is None or when.minute == self.minute))

    # display -------------------------------------------------------------
    def as_dict(self) -> dict[str, int]:
        """The plist form with canonical keys, wildcards left out."""
        out = {}
        for key in _ORDER:
            value = getattr(self, _FIELDS[key][0])
            if value is not None:
                out[key] = value
        return out

    def __str__(self) -> str:
        d = self.as_dict()
        if not d:
            return "{} (every minute)"
        return "{" + ", ".join(f"{k}={v}" for k, v in d.items()) + "}"


# --------------------------------------------------------------------------
# Validation


def _warn(warnings: list[Problem], key_path: str, message: str) -> None:
    warnings.append(Problem(WARNING, key_path, message))


def _parse_one(value: dict, where: str, warnings: list[Problem]) -> CalendarInterval | None:
    fields: dict[str, int | None] = {}
    seen: dict[str, str] = {}
    ok = True
    for raw_key, v in value.items():
        key = _BY_LOWER.get(raw_key.lower()) if isinstance(raw_key, str) else None
        kp = f"{where}.{raw_key}"
        if key is None:
            _warn(warnings, kp, f"unknown key, ignored (expected one of {', '.join(_ORDER)})")
            continue
        if key != raw_key:
            _warn(warnings, kp, f'key matched case-insensitively as "{key}", as launchd does')
        if key in seen:
            _warn(warnings, kp, f'"{key}" is given twice ("{seen[key]}" and "{raw_key}"); '
                                "the later one is used")
        seen[key] = raw_key
        attr, low, high = _FIELDS[key]
        if isinstance(v, bool) or not isinstance(v, int):
            _warn(warnings, kp, f"expected an integer, found {describe(v)}; "
                                "this schedule is ignored, as launchd does")
            ok = False
            continue
        if v < 0:
            _warn(warnings, kp, f'The interval for key "{key}" is less than zero. '
                                "Treated as a wildcard, as launchd does.")
            fields[attr] = None
        elif not low <= v <= high:
            _warn(warnings, kp, f'The interval for key "{key}" is not between {low} and {high} '
                                "(inclusive). This schedule is ignored.")
            ok = False
        elif key == "Month" and v == 0:
            _warn(warnings, kp, "Month 0 is treated as a wildcard (every month), as launchd does")
            fields[attr] = None
        else:
            fields[attr] = v
    if not ok:
        return None
    return CalendarInterval(**fields)


def validate_schedules(value: Any, key_path: str = KEY_PATH
                             ) -> tuple[tuple[CalendarInterval, ...], tuple[Problem, ...]]:
    """Validate a raw ``StartCalendarInterval`` plist value.

    Returns ``(schedules, warnings)``; each warning is a
    :class:`~pylaunchd.plistvalues.Problem` whose text starts with its key path
    (``StartCalendarInterval[1].Hour: ...``; a single dictionary has paths like
    ``StartCalendarInterval.Hour``). Raises :class:`CalendarError` (a
    ``ValueError``) when the value is neither a dictionary nor an array.

    As launchd 842 does: a non-integer value (booleans included) or an
    out-of-range value discards its whole dictionary; a negative value is a
    wildcard; ``Month`` 0 is a wildcard; keys match case-insensitively.
    Beyond 842, which ignores them silently, an unknown key and an array
    item that is not a dictionary are reported (and ignored).
    """
    warnings: list[Problem] = []
    schedules: list[CalendarInterval] = []
    if isinstance(value, dict):
        s = _parse_one(value, key_path, warnings)
        if s is not None:
            schedules.append(s)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            where = f"{key_path}[{i}]"
            if not isinstance(item, dict):
                _warn(warnings, where, f"expected a dictionary, found {describe(item)}; ignored")
                continue
            s = _parse_one(item, where, warnings)
            if s is not None:
                schedules.append(s)
        if not value:
            _warn(warnings, key_path, "empty array; the job never starts on a schedule")
    else:
        raise CalendarError(key_path, "a dictionary or an array of dictionaries", describe(value))
    if (value or isinstance(value, dict)) and not schedules:
        _warn(warnings, key_path, "no usable schedule; the job never starts on a schedule")
    return tuple(schedules), tuple(warnings)


# --------------------------------------------------------------------------
# Next firing

_ONE_DAY = _dt.timedelta(days=1)
_ONE_MINUTE = _dt.timedelta(minutes=1)


def _as_list(schedules: Schedules) -> list[CalendarInterval]:
    if isinstance(schedules, CalendarInterval):
        return [schedules]
    return list(schedules)


def _next_wall(s: CalendarInterval, start: _dt.datetime,
               accept: Callable[[_dt.datetime], bool]) -> _dt.datetime | None:
    """The first wall-clock minute >= *start* (naive) matching *s* that *accept*s."""
    hours = range(24) if s.hour is None else (s.hour,)
    minutes = range(60) if s.minute is None else (s.minute,)
    first = start.date()
    limit = first + _dt.timedelta(days=SEARCH_DAYS) if first.year < 9990 else _dt.date.max
    d = first
    try:
        while d <= limit:
            if s.month is not None and d.month != s.month:
                # jump to the first day of the next wanted month
                year = d.year if d.month < s.month else d.year + 1
                d = _dt.date(year, s.month, 1)
                continue
            if s.matches_day(d):
                for h in hours:
                    if d == first and h < start.hour:
                        continue
                    for m in minutes:
                        if d == first and h == start.hour and m < start.minute:
                            continue
                        cand = _dt.datetime(d.year, d.month, d.day, h, m)
                        if accept(cand):
                            return cand
            d += _ONE_DAY
    except (OverflowError, ValueError):  # ran past year 9999
        return None
    return None


def next_fire(schedules: Schedules, after: _dt.datetime) -> _dt.datetime | None:
    """The earliest firing of any schedule strictly after *after*, or None.

    The search starts at the first whole minute after *after* (so a time
    exactly on a firing minute returns the next one) and gives up after
    :data:`SEARCH_DAYS`. Naive in, naive local out; aware in, aware out in the
    same zone. Wall times that do not exist are skipped; repeated ones fire at
    their first occurrence only.
    """
    tz = after.tzinfo

    def wall_at(instant: _dt.datetime) -> _dt.datetime:
        return instant.astimezone(tz).replace(tzinfo=None, fold=0)  # tz None: local time

    try:
        after_utc = _utc(after)
        # after's wall time, normalised through its instant (only a hand-made
        # datetime can be a wall time that does not exist)
        start = wall_at(after_utc).replace(second=0, microsecond=0) + _ONE_MINUTE
    except (OverflowError, OSError, ValueError):
        return None

    def accept(wall: _dt.datetime) -> bool:
        try:
            # fold=0: the first occurrence of a repeated wall time
            instant = _utc(wall if tz is None else wall.replace(tzinfo=tz))
            return wall_at(instant) == wall and instant > after_utc  # exists, and is ahead
        except (OverflowError, OSError, ValueError):
            return False

    best: _dt.datetime | None = None
    for s in _as_list(schedules):
        cand = _next_wall(s, start, accept)
        if cand is not None and (best is None or cand < best):
            best = cand
    if best is None:
        return None
    return best if tz is None else best.replace(tzinfo=tz)


# --------------------------------------------------------------------------
# Comparing times


def _utc(when: _dt.datetime) -> _dt.datetime:
    """The instant of *when* (naive: local time) as an aware UTC datetime."""
    return when.astimezone(_dt.timezone.utc)


def seconds_until(at: _dt.datetime, now: _dt.datetime) -> float:
    """Real seconds from *now* to *at* (negative when *at* is past)."""
    return (_utc(at) - _utc(now)).total_seconds()


def is_due(at: _dt.datetime, now: _dt.datetime) -> bool:
    """Whether the firing *at* has arrived at *now* (compared as real instants)."""
    return seconds_until(at, now) <= 0


def missed(schedules: Schedules, since: _dt.datetime, now: _dt.datetime) -> bool:
    """Whether at least one firing fell in ``(since, now]`` (minute resolution).

    Any number of them means one start: launchd coalesces the firings missed
    during a suspend.
    """
    at = next_fire(schedules, since)
    return at is not None and is_due(at, now)


def monotonic_deadline(at: _dt.datetime | None, wall_now: _dt.datetime, mono_now: float,
                       max_wait: float = MAX_TIMER_WAIT) -> float:
    """A monotonic deadline for the timer that waits for the firing *at*.

    ``mono_now + seconds_until(at, wall_now)``, but never before ``mono_now``
    and never more than *max_wait* seconds ahead (also when *at* is None), so
    that a suspend or a wall-clock change is noticed; an early timer just
    re-checks with :func:`is_due` and re-arms.
    """
    if at is None:
        return mono_now + max_wait
    return mono_now + min(max(0.0, seconds_until(at, wall_now)), max_wait)

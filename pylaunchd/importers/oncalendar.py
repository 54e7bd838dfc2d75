"""systemd's ``OnCalendar=`` (systemd.time(7)) as launchd's
``StartCalendarInterval``, where it can be written as one.

launchd's calendar has minutes, hours, days, weekdays and months, each one
value or any; a list of such dictionaries fires when any matches. So lists,
ranges and repetitions (``6,18``, ``Mon..Fri``, ``*:0/15``) become several
dictionaries; what has no equivalent -- a year, seconds other than 0, ``~``
(days from the end of the month), a time zone, a weekday *and* a day (systemd
wants both, launchd fires on either) -- is said in a note, and an expression
that cannot be written at all gives None. Standard library only.
"""

from __future__ import annotations

import itertools
import re
from typing import Optional

SHORTHANDS = {
    "minutely": "*-*-* *:*:00", "hourly": "*-*-* *:00:00", "daily": "*-*-* 00:00:00",
    "monthly": "*-*-01 00:00:00", "weekly": "Mon *-*-* 00:00:00", "yearly": "*-01-01 00:00:00",
    "annually": "*-01-01 00:00:00", "quarterly": "*-01,04,07,10-01 00:00:00",
    "semiannually": "*-01,07-01 00:00:00",
}
_DAYS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 0}
_RANGES = {"Month": (1, 12), "Day": (1, 31), "Hour": (0, 23), "Minute": (0, 59), "Second": (0, 59)}
MAX_ENTRIES = 256  # more dictionaries than this: not worth writing


class NotExpressible(ValueError):
    pass


def _field(text: str, name: str) -> Optional[list[int]]:
    """The values of one component, or None for any (``*``)."""
    if text == "*":
        return None
    lo, hi = _RANGES[name]
    values: set[int] = set()
    for part in text.split(","):
        m = re.fullmatch(r"(\*|\d+)(?:\.\.(\d+))?(?:/(\d+))?", part)
        if not m:
            raise NotExpressible(f"{name} {part!r}")
        start = lo if m.group(1) == "*" else int(m.group(1))
        end = int(m.group(2)) if m.group(2) else (hi if m.group(3) else start)
        step = int(m.group(3) or 1)
        if not (lo <= start <= hi and lo <= end <= hi) or step < 1:
            raise NotExpressible(f"{name} {part!r} is out of range")
        values.update(range(start, end + 1, step))
    return sorted(values)


def _weekdays(text: str) -> list[int]:
    days: set[int] = set()
    names = list(_DAYS)
    for part in text.lower().split(","):
        ends = part.split("..")
        try:
            idx = [(["mon", "tue", "wed", "thu", "fri", "sat", "sun"].index(e[:3])) for e in ends]
        except ValueError:
            raise NotExpressible(f"weekday {part!r}") from None
        for i in range(idx[0], idx[-1] + 1):
            days.add(_DAYS[names[i]])
    return sorted(days)


def _split(expr: str) -> tuple[Optional[str], str, str, Optional[str]]:
    """(weekdays, date, time, time zone) of a normalized expression."""
    tokens = SHORTHANDS.get(expr.strip().lower(), expr).split()
    dow = tokens.pop(0) if tokens and re.match(r"[A-Za-z]", tokens[0]) and ":" not in tokens[0] else None
    date = tokens.pop(0) if tokens and "-" in tokens[0] and ":" not in tokens[0] else "*-*-*"
    time = tokens.pop(0) if tokens and ":" in tokens[0] else "00:00:00"
    zone = " ".join(tokens) or None
    return dow, date, time, zone


def to_calendar(expr: str) -> tuple[Optional[list[dict]], list[str]]:
    """(the StartCalendarInterval dictionaries, notes); None when it cannot be written."""
    notes: list[str] = []
    try:
        dow, date, time, zone = _split(expr)
        if zone:
            notes.append(f"the time zone {zone} is dropped: launchd's calendar is local time")
        parts = date.split("-")
        if len(parts) == 2:
            parts.insert(0, "*")
        if len(parts) != 3 or "~" in date:
            raise NotExpressible(f"the date {date!r}")
        if parts[0] != "*":
            raise NotExpressible(f"the year {parts[0]!r} (launchd's calendar has no years)")
        hms = time.split(":")
        if len(hms) == 2:
            hms.append("00")
        if len(hms) != 3:
            raise NotExpressible(f"the time {time!r}")
        if _field(hms[2].split(".")[0], "Second") != [0]:
            notes.append(f"the seconds {hms[2]!r} are dropped: launchd fires at the start of a minute")
        fields = {"Month": _field(parts[1], "Month"), "Day": _field(parts[2], "Day"),
                  "Hour": _field(hms[0], "Hour"), "Minute": _field(hms[1], "Minute"),
                  "Weekday": _weekdays(dow) if dow else None}
        if fields["Weekday"] is not None and fields["Day"] is not None:
            raise NotExpressible("a weekday and a day together (systemd wants both; launchd fires on either)")
    except NotExpressible as e:
        return None, notes + [f"OnCalendar={expr} cannot be written as StartCalendarInterval: {e}"]
    given = {k: v for k, v in fields.items() if v is not None}
    entries = [dict(zip(given, combo)) for combo in itertools.product(*given.values())]
    if len(entries) > MAX_ENTRIES:
        return None, notes + [f"OnCalendar={expr} needs {len(entries)} StartCalendarInterval entries; not written"]
    return entries, notes

"""StartCalendarInterval semantics on a fake clock (pylaunchd.triggers.calendar).

Naive datetimes are local time of the process; an autouse fixture pins
TZ=UTC so that every naive wall time exists exactly once, whatever the
machine's zone. Daylight-saving tests use aware datetimes (zoneinfo) or pin a
DST zone explicitly.
"""

from __future__ import annotations

import calendar as stdcal
import os
import random
import time
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

try:  # hypothesis is optional: the seeded brute-force tests below run without it
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    st = None

from pylaunchd.triggers.calendar import (
    MAX_TIMER_WAIT,
    CalendarError,
    CalendarInterval,
    is_due,
    missed,
    monotonic_deadline,
    next_fire,
    validate_schedules,
    seconds_until,
)
from pylaunchd.clock import FakeClock
from pylaunchd.triggers.schedule import CalendarTimer

try:
    BERLIN = ZoneInfo("Europe/Berlin")  # 2024: 03-31 02:00 -> 03:00, 10-27 03:00 -> 02:00
except Exception:  # pragma: no cover - no tz database on this machine
    BERLIN = None
needs_tzdata = pytest.mark.skipif(BERLIN is None, reason="no time zone database (tzdata)")


def _set_tz(value: str | None) -> None:
    if value is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = value
    time.tzset()


@pytest.fixture(autouse=True)
def utc_local_time():
    old = os.environ.get("TZ")
    _set_tz("UTC")
    yield
    _set_tz(old)


def S(**kw) -> CalendarInterval:
    return CalendarInterval(**kw)


def dt(*a, fold: int = 0) -> datetime:
    return datetime(*a, fold=fold)


def fires(schedules, after, n):
    out = []
    for _ in range(n):
        after = next_fire(schedules, after)
        out.append(after)
    return out


# --------------------------------------------------------------------------
# Wildcards


def test_empty_dict_fires_every_minute():
    assert next_fire(S(), dt(2024, 5, 1, 10, 0, 30)) == dt(2024, 5, 1, 10, 1)
    assert fires(S(), dt(2024, 5, 1, 10, 58), 3) == [dt(2024, 5, 1, 10, 59), dt(2024, 5, 1, 11, 0),
                                                     dt(2024, 5, 1, 11, 1)]


def test_minute_only_fires_hourly():
    s = S(minute=30)
    assert next_fire(s, dt(2024, 5, 1, 10, 29, 59)) == dt(2024, 5, 1, 10, 30)
    assert next_fire(s, dt(2024, 5, 1, 10, 30)) == dt(2024, 5, 1, 11, 30)
    assert next_fire(s, dt(2024, 5, 1, 23, 45)) == dt(2024, 5, 2, 0, 30)


def test_hour_only_fires_every_minute_of_that_hour():
    s = S(hour=3)
    assert next_fire(s, dt(2024, 5, 1, 2, 10)) == dt(2024, 5, 1, 3, 0)
    got = fires(s, dt(2024, 5, 1, 2, 59, 59), 61)
    assert got[:60] == [dt(2024, 5, 1, 3, m) for m in range(60)]
    assert got[60] == dt(2024, 5, 2, 3, 0)


def test_hour_and_minute_fire_daily():
    s = S(hour=3, minute=0)
    assert fires(s, dt(2024, 5, 1, 12, 0), 3) == [dt(2024, 5, 2, 3, 0), dt(2024, 5, 3, 3, 0),
                                                  dt(2024, 5, 4, 3, 0)]
    assert next_fire(s, dt(2024, 5, 1, 2, 59)) == dt(2024, 5, 1, 3, 0)


def test_month_missing_is_every_month_and_month_restricts():
    monthly = S(day=1, hour=0, minute=0)
    assert fires(monthly, dt(2024, 1, 15), 3) == [dt(2024, 2, 1), dt(2024, 3, 1), dt(2024, 4, 1)]
    june = S(month=6, day=1, hour=0, minute=0)
    assert fires(june, dt(2024, 1, 15), 2) == [dt(2024, 6, 1), dt(2025, 6, 1)]
    every_minute_in_june = S(month=6)
    assert next_fire(every_minute_in_june, dt(2024, 6, 30, 23, 59)) == dt(2025, 6, 1, 0, 0)


def test_after_exactly_on_a_firing_returns_the_next_one():
    s = S(hour=12, minute=0)
    assert next_fire(s, dt(2024, 5, 1, 12, 0)) == dt(2024, 5, 2, 12, 0)
    assert next_fire(s, dt(2024, 5, 1, 11, 59, 59, 999999)) == dt(2024, 5, 1, 12, 0)


def test_year_rollover():
    assert next_fire(S(), dt(2023, 12, 31, 23, 59)) == dt(2024, 1, 1, 0, 0)
    new_year = S(month=1, day=1, hour=0, minute=0)
    assert next_fire(new_year, dt(2023, 12, 31, 23, 59)) == dt(2024, 1, 1, 0, 0)
    assert next_fire(new_year, dt(2024, 1, 1, 0, 0)) == dt(2025, 1, 1, 0, 0)


# --------------------------------------------------------------------------
# Month ends, leap years, impossible schedules


def test_day_31_skips_short_months():
    s = S(day=31, hour=0, minute=0)
    assert fires(s, dt(2023, 1, 31, 12, 0), 4) == [dt(2023, 3, 31), dt(2023, 5, 31), dt(2023, 7, 31),
                                                   dt(2023, 8, 31)]


def test_day_30_never_in_february():
    s = S(day=30, hour=9, minute=0)
    assert next_fire(s, dt(2024, 1, 30, 10, 0)) == dt(2024, 3, 30, 9, 0)
    assert next_fire(S(day=30, month=2), dt(2024, 1, 1)) is None


def test_feb_29_only_in_leap_years():
    s = S(month=2, day=29, hour=0, minute=0)
    assert next_fire(s, dt(2023, 3, 1)) == dt(2024, 2, 29)
    assert next_fire(s, dt(2024, 2, 29)) == dt(2028, 2, 29)
    # 2100 is not a leap year: the longest gap a schedule can have.
    assert next_fire(s, dt(2096, 2, 29)) == dt(2104, 2, 29)


@pytest.mark.parametrize("sched", [S(day=31, month=2), S(day=30, month=2), S(day=31, month=4),
                                   S(day=31, month=11, hour=5, minute=5)])
def test_impossible_schedule_returns_none_quickly(sched):
    t0 = time.perf_counter()
    assert next_fire(sched, dt(2024, 1, 1)) is None
    assert next_fire([sched, sched], dt(2096, 2, 29)) is None
    assert time.perf_counter() - t0 < 1.0


def test_no_schedules_and_end_of_time():
    assert next_fire([], dt(2024, 1, 1)) is None
    assert next_fire(S(), datetime.max) is None
    assert next_fire(S(month=1), dt(9999, 6, 1)) is None


# --------------------------------------------------------------------------
# Weekday, Day/Weekday OR rule, arrays


def test_weekday_0_and_7_are_sunday():
    assert S(weekday=7) == S(weekday=0)
    wed = dt(2024, 6, 5, 12, 0)  # a Wednesday
    for wd in (0, 7):
        assert next_fire(S(weekday=wd, hour=8, minute=0), wed) == dt(2024, 6, 9, 8, 0)  # Sunday
    assert next_fire(S(weekday=1, hour=8, minute=0), wed) == dt(2024, 6, 10, 8, 0)  # Monday
    assert next_fire(S(weekday=6, hour=8, minute=0), wed) == dt(2024, 6, 8, 8, 0)  # Saturday


def test_day_and_weekday_fire_when_either_matches():
    s = S(day=10, weekday=5, hour=0, minute=0)  # the 10th, and every Friday
    got = fires(s, dt(2024, 9, 1), 5)  # 2024-09-01 is a Sunday
    assert got == [dt(2024, 9, 6), dt(2024, 9, 10), dt(2024, 9, 13), dt(2024, 9, 20), dt(2024, 9, 27)]
    # Month still ANDs with the OR of the two.
    s = S(month=10, day=10, weekday=5, hour=0, minute=0)
    assert next_fire(s, dt(2024, 9, 1)) == dt(2024, 10, 4)


def test_array_of_schedules_earliest_wins():
    morning, evening = S(hour=8, minute=0), S(hour=20, minute=30)
    assert fires([evening, morning], dt(2024, 5, 1, 12, 0), 3) == [
        dt(2024, 5, 1, 20, 30), dt(2024, 5, 2, 8, 0), dt(2024, 5, 2, 20, 30)]
    # A schedule that can never fire does not hide the others.
    assert next_fire([S(day=31, month=2), morning], dt(2024, 5, 1, 12, 0)) == dt(2024, 5, 2, 8, 0)
    # Two schedules on the same minute: one firing.
    assert fires([S(minute=0), S(hour=9, minute=0)], dt(2024, 5, 1, 8, 30), 2) == [
        dt(2024, 5, 1, 9, 0), dt(2024, 5, 1, 10, 0)]


# --------------------------------------------------------------------------
# Suspend / missed firings: the manager's own CalendarTimer on a fake clock
# (tests/test_timers_fake_clock.py drives it inside a running manager).


def drive(schedules, clock: FakeClock, steps):
    """Arm the real CalendarTimer, then run and suspend the clock; the wall
    times at which it fired."""
    starts = []
    timer = CalendarTimer(clock, tuple(schedules) if isinstance(schedules, list) else (schedules,),
                          lambda: starts.append(clock.wall()))
    for kind, seconds in steps:
        clock.advance(seconds) if kind == "run" else clock.suspend(seconds)
    timer.cancel()
    return starts


def test_timer_loop_fires_each_hour_while_awake():
    starts = drive(S(minute=0), FakeClock(dt(2024, 5, 1, 8, 30)), [("run", 3 * 3600)])
    assert starts == [dt(2024, 5, 1, 9, 0), dt(2024, 5, 1, 10, 0), dt(2024, 5, 1, 11, 0)]


def test_suspend_spanning_several_firings_starts_once():
    starts = drive(S(minute=0), FakeClock(dt(2024, 5, 1, 8, 30)),
                   [("run", 1800 + 60), ("suspend", 5 * 3600), ("run", 3600)])
    # 09:00 while awake; 10:00..14:00 missed during sleep -> one start within
    # a minute of waking at 14:01 (the timer waits at most MAX_TIMER_WAIT),
    # then 15:00 on schedule.
    assert starts == [dt(2024, 5, 1, 9, 0), dt(2024, 5, 1, 14, 2), dt(2024, 5, 1, 15, 0)]


def test_suspend_without_a_missed_firing_does_not_start():
    assert drive(S(minute=0), FakeClock(dt(2024, 5, 1, 8, 30)), [("suspend", 600), ("run", 600)]) == []


def test_cancelled_timer_never_fires():
    clock = FakeClock(dt(2024, 5, 1, 8, 59))
    fired = []
    CalendarTimer(clock, (S(minute=0),), lambda: fired.append(1)).cancel()
    clock.advance(7200)
    assert fired == [] and clock.pending() == []


def test_missed_is_coalesced_into_one_answer():
    hourly = S(minute=0)
    assert missed(hourly, dt(2024, 5, 1, 8, 30), dt(2024, 5, 1, 14, 10)) is True
    assert missed(hourly, dt(2024, 5, 1, 8, 30), dt(2024, 5, 1, 8, 59, 59)) is False
    assert missed(hourly, dt(2024, 5, 1, 8, 30), dt(2024, 5, 1, 9, 0)) is True  # (since, now]
    assert missed(hourly, dt(2024, 5, 1, 9, 0), dt(2024, 5, 1, 9, 30)) is False
    assert missed(S(day=31, month=2), dt(2024, 1, 1), dt(2030, 1, 1)) is False
    # after the single catch-up start, the next firing is in the future
    assert next_fire(hourly, dt(2024, 5, 1, 14, 10)) == dt(2024, 5, 1, 15, 0)


def test_power_off_is_not_caught_up():
    # Loading computes the next firing after now: nothing before it runs.
    assert next_fire(S(hour=3, minute=0), dt(2024, 5, 1, 9, 0)) == dt(2024, 5, 2, 3, 0)


def test_seconds_until_and_monotonic_deadline():
    now = dt(2024, 5, 1, 8, 0)
    assert seconds_until(dt(2024, 5, 1, 8, 0, 30), now) == 30
    assert seconds_until(dt(2024, 5, 1, 7, 59), now) == -60
    assert is_due(now, now) and not is_due(dt(2024, 5, 1, 8, 0, 1), now)
    assert monotonic_deadline(dt(2024, 5, 1, 8, 0, 30), now, 50.0) == 80.0
    assert monotonic_deadline(dt(2024, 5, 1, 9, 0), now, 50.0) == 50.0 + MAX_TIMER_WAIT
    assert monotonic_deadline(dt(2024, 5, 1, 7, 0), now, 50.0) == 50.0
    assert monotonic_deadline(None, now, 50.0) == 50.0 + MAX_TIMER_WAIT
    assert monotonic_deadline(dt(2024, 5, 1, 9, 0), now, 50.0, max_wait=3600) == 3650.0


# --------------------------------------------------------------------------
# Daylight saving time


@needs_tzdata
def test_dst_skipped_wall_time_is_skipped():
    s = S(hour=2, minute=30)
    after = datetime(2024, 3, 30, 12, 0, tzinfo=BERLIN)
    got = next_fire(s, after)
    assert got == datetime(2024, 4, 1, 2, 30, tzinfo=BERLIN) and got.tzinfo is BERLIN
    # every-minute: 01:59 CET is followed by 03:00 CEST
    assert next_fire(S(), datetime(2024, 3, 31, 1, 59, tzinfo=BERLIN)) == datetime(2024, 3, 31, 3, 0,
                                                                                    tzinfo=BERLIN)
    # {Hour: 2} has no minute at all on that day
    assert next_fire(S(hour=2), datetime(2024, 3, 31, 1, 0, tzinfo=BERLIN)) == datetime(
        2024, 4, 1, 2, 0, tzinfo=BERLIN)


@needs_tzdata
def test_dst_repeated_wall_time_fires_once_at_first_occurrence():
    s = S(hour=2, minute=30)
    first = next_fire(s, datetime(2024, 10, 27, 0, 0, tzinfo=BERLIN))
    assert first == datetime(2024, 10, 27, 2, 30, tzinfo=BERLIN) and first.fold == 0
    assert first.utcoffset() == timedelta(hours=2)  # CEST, the first 02:30
    assert next_fire(s, first) == datetime(2024, 10, 28, 2, 30, tzinfo=BERLIN)
    # In the repeated hour (fold=1) the first-pass times are in the past.
    second_pass = datetime(2024, 10, 27, 2, 10, fold=1, tzinfo=BERLIN)
    assert next_fire(s, second_pass) == datetime(2024, 10, 28, 2, 30, tzinfo=BERLIN)
    assert next_fire(S(minute=15), datetime(2024, 10, 27, 2, 20, tzinfo=BERLIN)) == datetime(
        2024, 10, 27, 3, 15, tzinfo=BERLIN)
    # is_due compares instants: 02:10 (second pass) is after 02:30 (first pass)
    assert is_due(first, second_pass)
    assert seconds_until(first, second_pass) == -40 * 60


@needs_tzdata
def test_dst_naive_local_time_follows_the_process_zone():
    _set_tz("Europe/Berlin")
    s = S(hour=2, minute=30)
    assert next_fire(s, dt(2024, 3, 30, 12, 0)) == dt(2024, 4, 1, 2, 30)
    got = next_fire(S(), dt(2024, 3, 31, 1, 59))
    assert got == dt(2024, 3, 31, 3, 0) and got.tzinfo is None
    first = next_fire(s, dt(2024, 10, 27, 0, 0))
    assert first == dt(2024, 10, 27, 2, 30) and first.fold == 0
    assert next_fire(s, dt(2024, 10, 27, 2, 10, fold=1)) == dt(2024, 10, 28, 2, 30)
    assert is_due(first, dt(2024, 10, 27, 2, 10, fold=1))
    assert not is_due(first, dt(2024, 10, 27, 2, 10, fold=0))


@needs_tzdata
def test_dst_after_on_a_wall_time_that_does_not_exist():
    # Only a hand-made datetime can be 02:05 on 2024-03-31 in Berlin; it is
    # read as the instant PEP 495 gives it (fold=1: 00:05 UTC, 01:05 CET).
    after = datetime(2024, 3, 31, 2, 5, 33, fold=1, tzinfo=BERLIN)
    got = next_fire(S(), after)
    assert got == datetime(2024, 3, 31, 1, 6, tzinfo=BERLIN)
    assert 0 < seconds_until(got, after) <= 60


@needs_tzdata
def test_seeded_naive_local_agrees_with_aware_zone():
    _set_tz("Europe/Berlin")
    rng = random.Random(99)
    for _ in range(300):
        s = S(minute=rng.choice([None, rng.randint(0, 59)]), hour=rng.choice([None, 1, 2, 3, rng.randint(0, 23)]))
        base = rng.choice([datetime(2024, 3, 30), datetime(2024, 10, 26)])
        instant = (base + timedelta(seconds=rng.randrange(2 * 86400))).replace(tzinfo=timezone.utc)
        naive, aware = instant.astimezone().replace(tzinfo=None), instant.astimezone(BERLIN)
        naive = naive.replace(fold=aware.fold)
        n, a = next_fire(s, naive), next_fire(s, aware)
        assert n.tzinfo is None and n.replace(tzinfo=BERLIN) == a.replace(fold=0)
        assert seconds_until(n, naive) == seconds_until(a, aware) > 0


def test_aware_utc_and_fixed_offset():
    tz = timezone(timedelta(hours=-5))
    got = next_fire(S(hour=0, minute=0), datetime(2024, 12, 31, 23, 59, tzinfo=tz))
    assert got == datetime(2025, 1, 1, 0, 0, tzinfo=tz) and got.tzinfo is tz


# --------------------------------------------------------------------------
# Validation


def test_parse_single_dict_and_array():
    s, w = validate_schedules({"Hour": 3, "Minute": 0})
    assert s == (S(hour=3, minute=0),) and w == ()
    s, w = validate_schedules([{"Minute": 0}, {}, {"Weekday": 7, "Day": 1, "Month": 12}])
    assert s == (S(minute=0), S(), S(weekday=0, day=1, month=12)) and w == ()


def test_parse_out_of_range_discards_that_dict():
    s, w = validate_schedules([{"Minute": 0}, {"Hour": 24, "Minute": 5}])
    assert s == (S(minute=0),)
    assert w == ('StartCalendarInterval[1].Hour: The interval for key "Hour" is not between 0 and 23 '
                 "(inclusive). This schedule is ignored.",)


@pytest.mark.parametrize("key,value,rng", [("Minute", 60, "0 and 59"), ("Hour", 24, "0 and 23"),
                                           ("Day", 32, "1 and 31"), ("Day", 0, "1 and 31"),
                                           ("Weekday", 8, "0 and 7"), ("Month", 13, "0 and 12")])
def test_parse_ranges(key, value, rng):
    s, w = validate_schedules({key: value})
    assert s == ()
    assert w[0] == (f'StartCalendarInterval.{key}: The interval for key "{key}" is not between {rng} '
                    "(inclusive). This schedule is ignored.")
    assert w[1] == "StartCalendarInterval: no usable schedule; the job never starts on a schedule"


def test_parse_negative_is_a_wildcard_with_warning():
    s, w = validate_schedules({"Hour": -1, "Minute": 5})
    assert s == (S(minute=5),)
    assert w == ('StartCalendarInterval.Hour: The interval for key "Hour" is less than zero. '
                 "Treated as a wildcard, as launchd does.",)


def test_parse_month_zero_is_a_wildcard():
    s, w = validate_schedules({"Month": 0, "Day": 1})
    assert s == (S(day=1),)
    assert len(w) == 1 and w[0].startswith("StartCalendarInterval.Month: Month 0 is treated as a wildcard")


@pytest.mark.parametrize("bad,found", [(True, "boolean true"), ("3", 'string "3" (write <integer>3</integer>)'),
                                       ("three", 'string "three"'), (3.0, "real 3.0"),
                                       ([3], "array of 1 item"), ({}, "dictionary with 0 keys")])
def test_parse_non_integer_discards_that_dict(bad, found):
    s, w = validate_schedules([{"Minute": 1}, {"Minute": 2, "Hour": bad}, {"Minute": 3}])
    assert s == (S(minute=1), S(minute=3))
    assert w == (f"StartCalendarInterval[1].Hour: expected an integer, found {found}; "
                 "this schedule is ignored, as launchd does",)


def test_parse_unknown_and_case_insensitive_keys():
    s, w = validate_schedules({"hour": 4, "Minutes": 10, "Comment": "nightly"})
    assert s == (S(hour=4),)
    assert w == (
        'StartCalendarInterval.hour: key matched case-insensitively as "Hour", as launchd does',
        "StartCalendarInterval.Minutes: unknown key, ignored (expected one of Minute, Hour, Day, Weekday, Month)",
        "StartCalendarInterval.Comment: unknown key, ignored (expected one of Minute, Hour, Day, Weekday, Month)",
    )


def test_parse_array_items_that_are_not_dicts_and_empty_array():
    s, w = validate_schedules([{"Minute": 1}, 5, "x"])
    assert s == (S(minute=1),)
    assert w == ("StartCalendarInterval[1]: expected a dictionary, found integer 5; ignored",
                 'StartCalendarInterval[2]: expected a dictionary, found string "x"; ignored')
    s, w = validate_schedules([])
    assert s == () and w == ("StartCalendarInterval: empty array; the job never starts on a schedule",)


@pytest.mark.parametrize("value,found", [(3, "integer 3"), ("daily", 'string "daily"'),
                                        (True, "boolean true")])
def test_parse_neither_dict_nor_array_is_an_error(value, found):
    with pytest.raises(CalendarError) as ei:
        validate_schedules(value)
    assert isinstance(ei.value, ValueError)
    assert ei.value.key_path == "StartCalendarInterval"
    assert str(ei.value) == f"StartCalendarInterval: expected a dictionary or an array of dictionaries, found {found}"


def test_calendar_interval_constructor_and_display():
    with pytest.raises(ValueError):
        CalendarInterval(hour=24)
    with pytest.raises(ValueError):
        CalendarInterval(month=0)
    with pytest.raises(ValueError):
        CalendarInterval(minute=True)
    s = S(minute=0, hour=3, weekday=7)
    assert s.as_dict() == {"Minute": 0, "Hour": 3, "Weekday": 0}
    assert str(s) == "{Minute=0, Hour=3, Weekday=0}"
    assert str(S()) == "{} (every minute)"
    assert hash(s) == hash(S(minute=0, hour=3, weekday=0))


# --------------------------------------------------------------------------
# Property: next_fire is the first matching minute strictly after `after`


def ref_day(d: dict, day: date) -> bool:
    """An independent reading of the rules, on the raw plist dictionary."""
    if "Month" in d and day.month != d["Month"]:
        return False
    has_day, has_wd = "Day" in d, "Weekday" in d
    day_ok = has_day and day.day == d["Day"]
    # calendar.weekday: Monday 0; launchd: Sunday 0 (and 7)
    wd_ok = has_wd and (stdcal.weekday(day.year, day.month, day.day) + 1) % 7 == d["Weekday"] % 7
    return (not has_day and not has_wd) or day_ok or wd_ok


def ref_minute(d: dict, t: datetime) -> bool:
    return (ref_day(d, t.date()) and d.get("Hour", t.hour) == t.hour
            and d.get("Minute", t.minute) == t.minute)


def ref_next(dicts: list[dict], after: datetime, horizon_days: int) -> datetime | None:
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = t + timedelta(days=horizon_days)
    while t < end:
        if any(ref_day(d, t.date()) for d in dicts):
            if any(ref_minute(d, t) for d in dicts):
                return t
            t += timedelta(minutes=1)
        else:
            t = datetime(t.year, t.month, t.day) + timedelta(days=1)
    return None


def check_first_match(dicts: list[dict], after: datetime) -> None:
    schedules, warnings = validate_schedules(dicts)
    assert warnings == ()
    got = next_fire(schedules, after)
    assert got == ref_next(dicts, after, 9 * 366)
    if got is not None:
        assert got > after and got.second == 0 and got.microsecond == 0
        assert any(s.matches(got) for s in schedules)


def check_dst(minute: int | None, hour: int | None, after: datetime) -> None:
    """Across DST changes: walk real minutes; the first one whose wall time
    matches and is not the repeat of an already-passed wall time is next_fire."""
    s = S(minute=minute, hour=hour)
    got = next_fire(s, after)
    utc = timezone.utc
    now = after.astimezone(utc)
    seen_first_pass = set()  # first-pass wall times of the repeated hour already passed
    probe = now.replace(second=0, microsecond=0) - timedelta(hours=1)
    while probe <= now:
        w = probe.astimezone(BERLIN)
        if w.fold == 0:
            seen_first_pass.add(w.replace(tzinfo=None))
        probe += timedelta(minutes=1)
    t = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while True:
        w = t.astimezone(BERLIN)
        wall = w.replace(tzinfo=None, fold=0)
        if s.matches(wall) and not (w.fold == 1 and wall in seen_first_pass):
            break
        if w.fold == 0:
            seen_first_pass.add(wall)
        t += timedelta(minutes=1)
    assert got is not None
    assert got.astimezone(utc) == t


def _random_dict(rng: random.Random) -> dict:
    d = {}
    for key, lo, hi in (("Minute", 0, 59), ("Hour", 0, 23), ("Day", 1, 31), ("Weekday", 0, 7), ("Month", 1, 12)):
        if rng.random() < 0.4:
            d[key] = rng.randint(lo, hi)
    return d


def test_seeded_brute_force_next_fire_is_first_match_after():
    rng = random.Random(1234)
    for _ in range(300):
        dicts = [_random_dict(rng) for _ in range(rng.randint(1, 3))]
        after = datetime(1990, 1, 1) + timedelta(seconds=rng.randrange(120 * 366 * 86400))
        check_first_match(dicts, after)


@needs_tzdata
def test_seeded_brute_force_across_dst():
    rng = random.Random(4321)
    for _ in range(120):
        minute = rng.choice([None, rng.randint(0, 59)])
        hour = rng.choice([None, rng.randint(0, 23), 2])
        base = rng.choice([datetime(2024, 3, 30), datetime(2024, 10, 26)])
        wall = base + timedelta(seconds=rng.randrange(2 * 86400))
        check_dst(minute, hour, wall.replace(tzinfo=BERLIN, fold=rng.randint(0, 1)))


if st is not None:
    sched_dicts = st.fixed_dictionaries({}, optional={
        "Minute": st.integers(0, 59), "Hour": st.integers(0, 23), "Day": st.integers(1, 31),
        "Weekday": st.integers(0, 7), "Month": st.integers(1, 12)})

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(dicts=st.lists(sched_dicts, min_size=1, max_size=3),
           after=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2110, 1, 1)))
    def test_property_next_fire_is_first_match_after(dicts, after):
        check_first_match(dicts, after)

    @needs_tzdata
    @settings(max_examples=60, deadline=None)
    @given(minute=st.one_of(st.none(), st.integers(0, 59)), hour=st.one_of(st.none(), st.integers(0, 23)),
           start=st.datetimes(min_value=datetime(2024, 3, 30), max_value=datetime(2024, 4, 1))
           | st.datetimes(min_value=datetime(2024, 10, 26), max_value=datetime(2024, 10, 28)),
           fold=st.integers(0, 1))
    def test_property_dst_first_existing_unseen_wall_minute(minute, hour, start, fold):
        check_dst(minute, hour, start.replace(tzinfo=BERLIN, fold=fold))

"""Business time against a brute force built from every UTC minute's local wall time (`astimezone`) and the
raw `hours` strings: a local time takes effect at the first minute whose wall time is at or past it, a
range is open from its start's minute to its end's, past midnight when its end is not after its start,
holidays closing their day's ranges and cutting the day before's at midnight. Random calendars in zones
with odd offsets and DST (30-minute DST, +05:45, +12:45), spans across 2026's transitions, deadlines, a team
clock whose calendar changes mid-span; and the SPEC's examples."""

from __future__ import annotations

import os
import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.kpis.business_time import DAY_US, MINUTE_US, SECOND_US, Calendar, TeamClock, business_us
from streams.records import CalendarSet, decode_event

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ZONES = ("America/New_York", "Europe/Warsaw", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Chatham", "UTC")
# 2026's changes: US, EU, Lord Howe (30 min) and Chatham, both ways; and a quiet day
ANCHORS = tuple(
    date.fromisoformat(day)
    for day in ("2026-03-08", "2026-11-01", "2026-03-29", "2026-10-25", "2026-04-05", "2026-10-04", "2026-09-27")
) + (date(2026, 6, 17),)
HOUR_US = 3600 * SECOND_US


def us(stamp: str) -> int:
    """An RFC 3339 instant as µs since the epoch."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (moment - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(microseconds=1)


def clock_text(minute: int) -> str:
    return "24:00" if minute == 1440 else f"{minute // 60:02d}:{minute % 60:02d}"


def decoded(zone: str, hours: dict[str, list[list[str]]], holidays: Sequence[date] = ()) -> Calendar:
    """A calendar the way the product gets one: a `calendar.set` through the decoder."""
    value = {
        "event_id": "c1",
        "type": "calendar.set",
        "occurred_at": "2026-01-01T00:00:00Z",
        "team_id": "north",
        "timezone": zone,
        "hours": hours,
        "holidays": [day.isoformat() for day in holidays],
    }
    record = decode_event(orjson.dumps(value))
    assert isinstance(record, CalendarSet)
    return Calendar.from_event(record)


GRID_DAYS = (-6, 12)  # the brute force's minute grid, in days around a span's anchor day


@cache
def wall_grid(zone: str, anchor: date) -> tuple[int, list[int]]:
    """Every UTC minute of the grid, as (its first instant, the running maximum of each minute's local wall
    time in minutes since 0001-01-01): the first minute at or past a wall time is a bisection away."""
    first = (anchor.toordinal() + GRID_DAYS[0] - date(1970, 1, 1).toordinal()) * DAY_US
    local = ZoneInfo(zone)
    walls = []
    for n in range((GRID_DAYS[1] - GRID_DAYS[0]) * 1440):
        moment = datetime.fromtimestamp(first // SECOND_US + 60 * n, timezone.utc).astimezone(local)
        walls.append(moment.toordinal() * 1440 + moment.hour * 60 + moment.minute)
    return first, list(accumulate(walls, max))


@dataclass(frozen=True)
class Raw:
    """A calendar as the brute force reads it: straight from the strings of the event."""

    zone: str
    hours: dict[str, list[list[str]]]
    holidays: tuple[date, ...]

    def ranges(self, weekday: int) -> list[tuple[int, int]]:
        out = []
        for start_text, end_text in self.hours.get(DAYS[weekday], []):
            start = int(start_text[:2]) * 60 + int(start_text[3:])
            end = int(end_text[:2]) * 60 + int(end_text[3:])
            out.append((start, end if end > start else end + 1440))  # not after its start: past midnight
        return out

    def open_minutes(self, anchor: date) -> Marks:
        first, reached = wall_grid(self.zone, anchor)

        def effect(day: date, minute: int) -> int:  # the grid minute where this local time takes effect
            return bisect_left(reached, day.toordinal() * 1440 + minute)

        marks = bytearray(len(reached))
        for n in range(GRID_DAYS[0] - 1, GRID_DAYS[1] + 1):
            day, after = anchor + timedelta(days=n), anchor + timedelta(days=n + 1)
            if day in self.holidays:
                continue
            cut = effect(after, 0) if after in self.holidays else len(marks)
            for start, end in self.ranges(day.weekday()):
                lo, hi = effect(day, start), min(effect(day, end), cut)
                if lo < hi:
                    marks[lo:hi] = b"\x01" * (hi - lo)
        return Marks(first, marks)

    def calendar(self) -> Calendar:
        return decoded(self.zone, self.hours, list(self.holidays))


@dataclass(frozen=True)
class Marks:
    """Which minutes of a grid are open; only a day inside its edges is exact."""

    first: int
    marks: bytearray

    def is_open(self, minute_us: int) -> bool:
        n = (minute_us - self.first) // MINUTE_US
        assert 1440 <= n < len(self.marks) - 2 * 1440, "outside the brute force's grid"
        return bool(self.marks[n])


def minutes(start_us: int, end_us: int) -> Iterator[int]:
    return iter(range(start_us, end_us, MINUTE_US))


def brute_business_us(is_open: Any, start_us: int, end_us: int) -> int:
    return sum(MINUTE_US for minute in minutes(start_us, end_us) if is_open(minute))


def assert_deadline(found: int | None, expected: int | None, horizon_us: int) -> None:
    """The brute force looks as far as `horizon_us`: past it, only "later" (or never) can be checked."""
    if expected is None:
        assert found is None or found > horizon_us
    else:
        assert found == expected


def brute_deadline(is_open: Any, start_us: int, need_minutes: int, horizon_us: int) -> int | None:
    if need_minutes == 0:
        return start_us
    seen = 0
    for minute in minutes(start_us, start_us + horizon_us):
        if is_open(minute):
            seen += 1
            if seen == need_minutes:
                return minute + MINUTE_US
    return None


SPECIAL = [0, 60, 90, 105, 120, 150, 165, 180, 225, 540, 1020, 1320, 1439]  # near the transitions, and office hours
starts = st.one_of(st.integers(0, 1439), st.sampled_from(SPECIAL))
ends = st.one_of(st.integers(0, 1440), st.sampled_from([*SPECIAL, 1440]))
day_ranges = st.lists(st.tuples(starts, ends).map(lambda p: [clock_text(p[0]), clock_text(p[1])]), max_size=3)
near_changes = st.lists(  # boundaries in the changes' skipped and repeated local hours
    st.tuples(st.sampled_from(SPECIAL[:9]), st.sampled_from([*SPECIAL, 1440])).map(
        lambda p: [clock_text(p[0]), clock_text(p[1])]
    ),
    min_size=1,
    max_size=3,
)


@st.composite
def calendars_and_spans(draw: st.DrawFn, max_days: int = 4) -> tuple[Raw, date, int, int]:
    anchor = draw(st.sampled_from(ANCHORS))
    holidays = draw(st.lists(st.integers(-4, 4).map(lambda n: anchor + timedelta(days=n)), max_size=3))
    hours = draw(st.dictionaries(st.sampled_from(DAYS), day_ranges, max_size=7))
    for day in (anchor, anchor - timedelta(days=1)):  # the change day, and the one before running into it
        if draw(st.booleans()):
            hours[DAYS[day.weekday()]] = draw(near_changes)
    raw = Raw(draw(st.sampled_from(ZONES)), hours, tuple(holidays))
    base = (anchor.toordinal() - date(1970, 1, 1).toordinal()) * DAY_US
    start = base + draw(st.integers(-3 * 1440, 2 * 1440)) * MINUTE_US
    return raw, anchor, start, start + draw(st.integers(-60, max_days * 1440)) * MINUTE_US


@settings(max_examples=300, deadline=None)
@given(case=calendars_and_spans())
def test_business_us_is_the_brute_force_count(case: tuple[Raw, date, int, int]) -> None:
    raw, anchor, start, end = case
    calendar = raw.calendar()
    assert business_us(calendar, start, end) == brute_business_us(raw.open_minutes(anchor).is_open, start, end)
    intervals = calendar.open_intervals(start, end)
    assert all(start <= lo < hi <= end for lo, hi in intervals)
    assert all(a[1] < b[0] for a, b in zip(intervals, intervals[1:], strict=False))  # disjoint, not touching
    middle = start + (end - start) // 2 // MINUTE_US * MINUTE_US  # the cache and a split span agree
    if start <= middle <= end:
        assert business_us(calendar, start, middle) + business_us(calendar, middle, end) == business_us(
            calendar, start, end
        )


@settings(max_examples=150, deadline=None)
@given(case=calendars_and_spans(max_days=1), need=st.integers(0, 600))
def test_deadline_is_the_brute_force_deadline(case: tuple[Raw, date, int, int], need: int) -> None:
    raw, anchor, start, _ = case
    calendar, horizon = raw.calendar(), 6 * DAY_US
    expected = brute_deadline(raw.open_minutes(anchor).is_open, start, need, horizon)
    found = TeamClock(((start - DAY_US, calendar),)).deadline(start, need * MINUTE_US)
    assert_deadline(found, expected, start + horizon)
    if expected is not None:
        assert calendar.reach(start, need * MINUTE_US) == (expected, need * MINUTE_US)


@settings(max_examples=150, deadline=None)
@given(
    first=calendars_and_spans(),
    second=calendars_and_spans(),
    changes=st.lists(st.tuples(st.integers(-1440, 5 * 1440), st.integers(0, 2)), min_size=1, max_size=4),
    need=st.integers(0, 300),
)
def test_a_team_clock_follows_its_calendar_changes(
    first: tuple[Raw, date, int, int], second: tuple[Raw, date, int, int], changes: list[tuple[int, int]], need: int
) -> None:
    raw, anchor, start, end = first
    options = (raw, second[0], None)
    stamped = [(start + offset * MINUTE_US, options[which]) for offset, which in changes]
    calendars = {id(option): option.calendar() for option in options if option is not None}
    marks = {id(option): option.open_minutes(anchor) for option in options if option is not None}
    clock = TeamClock.of((at, None if option is None else calendars[id(option)]) for at, option in stamped)
    in_order = sorted(stamped, key=lambda change: change[0])

    def is_open(minute: int) -> bool:
        now = [option for at, option in in_order if at <= minute]
        return not now or now[-1] is None or marks[id(now[-1])].is_open(minute)

    assert clock.business_us(start, end) == brute_business_us(is_open, start, end)
    horizon = 7 * DAY_US
    assert_deadline(
        clock.deadline(start, need * MINUTE_US), brute_deadline(is_open, start, need, horizon), start + horizon
    )
    for at, _ in stamped:
        now = [option for when, option in in_order if when <= at][-1]
        assert clock.clock_at(at) == ("wall" if now is None else "business")


NEW_YORK_WEEKDAYS = {day: [["09:00", "17:00"]] for day in DAYS[:5]}


@pytest.fixture
def worker_zone() -> Iterator[None]:
    """The process's own local zone moved far from both the calendar's and UTC: it must play no part."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "Pacific/Chatham"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.usefixtures("worker_zone")
@pytest.mark.parametrize(
    ("created", "holidays", "breach"),
    [
        ("2026-11-20T23:55:00Z", [], "2026-11-23T14:05:00Z"),  # fri 18:55 EST -> mon 09:05
        ("2026-11-20T23:55:00Z", [date(2026, 11, 23)], "2026-11-24T14:05:00Z"),  # a holiday monday: tuesday
        ("2026-11-20T21:58:00Z", [], "2026-11-23T14:03:00Z"),  # fri 16:58: 2 min before closing, 3 on monday
        ("2026-11-20T21:55:00Z", [], "2026-11-20T22:00:00Z"),  # fri 16:55: at closing time exactly
        ("2026-11-21T15:00:00Z", [], "2026-11-23T14:05:00Z"),  # saturday
        ("2026-11-23T13:00:00Z", [], "2026-11-23T14:05:00Z"),  # monday 08:00, before opening
        ("2026-11-23T15:00:00Z", [], "2026-11-23T15:05:00Z"),  # open: the wall clock's 300 s
        ("2026-10-30T20:58:00Z", [], "2026-11-02T14:03:00Z"),  # fri 16:58 EDT, mon 09:03 EST: across the change
    ],
)
def test_a_300_s_sla_on_a_new_york_weekday_calendar(created: str, holidays: list[date], breach: str) -> None:
    clock = TeamClock(((us("2026-01-01T00:00:00Z"), decoded("America/New_York", NEW_YORK_WEEKDAYS, holidays)),))
    assert clock.deadline(us(created), 300 * SECOND_US) == us(breach)
    assert clock.business_us(us(created), us(breach)) == 300 * SECOND_US
    assert clock.clock_at(us(created)) == "business"


@pytest.mark.parametrize(
    ("zone", "day", "nine_to_five_h", "whole_day_h"),
    [
        ("America/New_York", "2026-03-08", 8, 23),
        ("America/New_York", "2026-11-01", 8, 25),
        ("Europe/Warsaw", "2026-03-29", 8, 23),
        ("Europe/Warsaw", "2026-10-25", 8, 25),
        ("Australia/Lord_Howe", "2026-04-05", 8, 24.5),
        ("Australia/Lord_Howe", "2026-10-04", 8, 23.5),
        ("Pacific/Chatham", "2026-04-05", 8, 25),
        ("Pacific/Chatham", "2026-09-27", 8, 23),
        ("Asia/Kathmandu", "2026-03-08", 8, 24),
    ],
)
def test_dst_change_days(zone: str, day: str, nine_to_five_h: float, whole_day_h: float) -> None:
    local = ZoneInfo(zone)
    midnight = datetime.fromisoformat(day).replace(tzinfo=local)
    start, end = us(midnight.isoformat()), us((midnight + timedelta(days=1)).isoformat())
    office = decoded(zone, {d: [["09:00", "17:00"]] for d in DAYS})
    whole = decoded(zone, {d: [["00:00", "24:00"]] for d in DAYS})
    assert business_us(office, start, end) == nine_to_five_h * HOUR_US
    assert business_us(whole, start, end) == whole_day_h * HOUR_US
    assert business_us(whole, start - DAY_US, end + DAY_US) == (whole_day_h + 48) * HOUR_US  # neighbours: 24 h


@pytest.mark.parametrize(
    ("day", "range_", "opens", "minutes_open"),
    [
        ("2026-03-08", ["02:30", "04:00"], "2026-03-08T07:00:00Z", 60),  # nonexistent start: the instant after the gap
        ("2026-03-08", ["01:30", "02:30"], "2026-03-08T06:30:00Z", 30),  # nonexistent end: closes at the gap
        ("2026-03-08", ["02:00", "03:00"], None, 0),  # a range wholly in the gap is never open
        ("2026-11-01", ["01:30", "03:00"], "2026-11-01T05:30:00Z", 150),  # ambiguous start: the first 01:30
        ("2026-11-01", ["00:00", "01:30"], "2026-11-01T04:00:00Z", 90),  # ambiguous end: the first 01:30
        ("2026-11-01", ["01:15", "01:45"], "2026-11-01T05:15:00Z", 30),  # both in the repeated hour
        ("2026-11-01", ["01:00", "02:00"], "2026-11-01T05:00:00Z", 120),  # the repeated hour counts twice
    ],
)
def test_boundaries_in_skipped_and_repeated_local_times(
    day: str, range_: list[str], opens: str | None, minutes_open: int
) -> None:
    calendar = decoded("America/New_York", {"sun": [range_]})
    start, end = us(f"{day}T00:00:00Z"), us(f"{day}T00:00:00Z") + 2 * DAY_US
    intervals = calendar.open_intervals(start, end)
    assert business_us(calendar, start, end) == minutes_open * MINUTE_US
    assert (intervals[0][0] if intervals else None) == (None if opens is None else us(opens))


def test_past_midnight_ranges_and_holidays() -> None:
    friday = "2026-11-20T00:00:00+01:00"  # Warsaw
    week = us(friday) - 4 * DAY_US, us(friday) + 4 * DAY_US
    night = {"fri": [["22:00", "06:00"]]}
    assert business_us(decoded("Europe/Warsaw", night), *week) == 8 * HOUR_US
    assert decoded("Europe/Warsaw", night).open_intervals(*week) == [
        (us("2026-11-20T22:00:00+01:00"), us("2026-11-21T06:00:00+01:00"))
    ]
    saturday_off = decoded("Europe/Warsaw", night, [date(2026, 11, 21)])  # the range stops at midnight
    assert business_us(saturday_off, *week) == 2 * HOUR_US
    friday_off = decoded("Europe/Warsaw", night, [date(2026, 11, 20)])  # its part past midnight closes too
    assert business_us(friday_off, *week) == 0
    overlapping = decoded("Europe/Warsaw", {**night, "sat": [["00:00", "03:00"], ["05:00", "07:00"]]})
    assert business_us(overlapping, *week) == 9 * HOUR_US  # the union: fri 22:00 -> sat 07:00
    all_day = decoded("Europe/Warsaw", {"thu": [["09:00", "09:00"]]})  # 24 h, thu 09:00 -> fri 09:00
    assert all_day.open_intervals(*week) == [(us("2026-11-19T09:00:00+01:00"), us("2026-11-20T09:00:00+01:00"))]
    assert decoded("Europe/Warsaw", {"thu": [["00:00", "00:00"]]}).open_intervals(*week) == [
        (us("2026-11-19T00:00:00+01:00"), us("2026-11-20T00:00:00+01:00"))
    ]
    assert business_us(decoded("Europe/Warsaw", {}), *week) == 0


def test_microseconds_within_a_minute() -> None:
    calendar = decoded("America/New_York", NEW_YORK_WEEKDAYS)
    opened = us("2026-11-23T14:00:00Z")  # mon 09:00 EST
    assert business_us(calendar, opened - 7, opened + 123_457) == 123_457
    assert business_us(calendar, opened + 1, opened + 123_457) == 123_456
    assert business_us(calendar, opened + 5, opened + 5) == 0
    assert business_us(calendar, opened + 5, opened - 5) == 0
    closing = us("2026-11-20T22:00:00Z")  # fri 17:00 EST
    clock = TeamClock(((0, calendar),))
    assert clock.deadline(closing - 1, SECOND_US) == opened + SECOND_US - 1  # 1 µs on friday, the rest monday
    assert clock.deadline(closing - 250_001, 250_000) == closing - 1
    assert clock.business_us(closing - 1, opened + SECOND_US - 1) == SECOND_US


def test_the_team_clock_before_between_and_after_calendars() -> None:
    weekdays = decoded("America/New_York", NEW_YORK_WEEKDAYS)
    never_open = decoded("UTC", {})
    set_at = us("2026-11-20T23:00:00Z")  # fri 18:00 EST, after closing
    clock = TeamClock.of([(set_at, weekdays)])
    assert clock.calendar_at(set_at - 1) is None and clock.clock_at(set_at - 1) == "wall"
    assert clock.calendar_at(set_at) is weekdays and clock.clock_at(set_at) == "business"
    assert clock.business_us(set_at - HOUR_US, set_at + HOUR_US) == HOUR_US  # the hour before it: wall clock
    assert clock.deadline(set_at - 100 * SECOND_US, 300 * SECOND_US) == us("2026-11-23T14:03:20Z")
    assert TeamClock().deadline(5, 300) == 305 and TeamClock().business_us(5, 305) == 300
    assert TeamClock.of([(set_at, never_open)]).deadline(set_at, 1) is None
    back_to_wall = TeamClock.of([(set_at + DAY_US, None), (set_at, never_open)])
    assert back_to_wall.deadline(set_at - 10, 20) == set_at + DAY_US + 10
    assert back_to_wall.business_us(set_at - 10, set_at + DAY_US + 10) == 20
    same_stamp = TeamClock.of([(set_at, never_open), (set_at, weekdays)])  # the last given stays in force
    assert same_stamp.calendar_at(set_at) is weekdays
    with pytest.raises(ValueError, match="in order"):
        TeamClock(((2, weekdays), (1, never_open)))


def test_a_long_span_and_a_reused_calendar() -> None:
    calendar = decoded("Europe/Warsaw", {"mon": [["22:00", "02:00"]], "sat": [["10:00", "24:00"]]})
    start = us("2020-01-01T00:00:00Z")
    years = [business_us(calendar, start + n * 365 * DAY_US, start + (n + 1) * 365 * DAY_US) for n in range(12)]
    fresh = decoded("Europe/Warsaw", {"mon": [["22:00", "02:00"]], "sat": [["10:00", "24:00"]]})
    assert business_us(fresh, start, start + 12 * 365 * DAY_US) == sum(years)  # past the cache of 4096 days
    assert business_us(calendar, start, start + 7 * DAY_US) == 18 * HOUR_US


def test_a_calendar_checks_its_hours() -> None:
    utc = ZoneInfo("UTC")
    with pytest.raises(ValueError, match="7 days"):
        Calendar(utc, ((),) * 6)
    with pytest.raises(ValueError, match="not minutes"):
        Calendar(utc, (((600, 600),),) + ((),) * 6)
    with pytest.raises(ValueError, match="not minutes"):
        Calendar(utc, (((1440, 1500),),) + ((),) * 6)
    assert Calendar(utc, ((),) * 7) == Calendar(utc, ((),) * 7)
    assert hash(Calendar(utc, ((),) * 7, frozenset({date(2026, 1, 1)}))) == hash(
        Calendar(utc, ((),) * 7, frozenset({date(2026, 1, 1)}))
    )

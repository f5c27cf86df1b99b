"""Team calendars in the reference computation (SPEC §2 ``calendar.set``, §4 "Business time"): the
decoder's validation, each calendar's open ranges as UTC intervals per local day, and the business
microseconds between two instants on a team's SLA clock, piecewise over the calendars in force.

Exact to the microsecond and deliberately plain: a range's ends are local wall times converted to
UTC instants (an ambiguous time is its first occurrence, ``fold=0``; a time in a spring-forward gap
is the first real instant after the gap), and business time is the measure of the union of those
intervals within the span. Standard library only, like the rest of ``streams.audit``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # in date.weekday() order
DAY_MINUTES = 24 * 60
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_DAY = timedelta(days=1)
_START = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
_END = re.compile(r"([01]\d|2[0-3]):([0-5]\d)|24:00")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

Range = tuple[int, int]  # (start, end) minute of the local day; end <= start runs past midnight
Change = tuple[int, "Calendar"]  # (event time in µs, the calendar a calendar.set puts in force)


@dataclass(frozen=True)
class Calendar:
    """One accepted ``calendar.set``: its zone, open ranges per weekday (Monday first), holidays."""

    zone: ZoneInfo
    hours: tuple[tuple[Range, ...], ...]
    holidays: frozenset[date]


# ----------------------------------------------------------------------------------- validation


MAX_RANGES = 48  # a day's ranges, and a calendar's holidays, at most (the decoder's limits)
MAX_HOLIDAYS = 1000


def _minute(text: Any, pattern: re.Pattern[str]) -> int:
    if not isinstance(text, str) or pattern.fullmatch(text) is None:
        raise ValueError(f"not a local time HH:MM: {text!r}")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


@cache
def _zone_names() -> frozenset[str]:
    """The IANA database's zone names; ``localtime`` is the host's own setting, not a zone name."""
    return frozenset(available_timezones()) - {"localtime"}


def _zone(name: Any) -> ZoneInfo:
    """An IANA zone by its exact name (not a file such as ``localtime`` or ``posixrules``)."""
    if not isinstance(name, str):
        raise ValueError("timezone must be a string")
    if name not in _zone_names():
        raise ValueError(f"not an IANA time zone: {name!r}")
    return ZoneInfo(name)


def _ranges(day: str, ranges: Any) -> tuple[Range, ...]:
    if ranges is None:
        return ()  # null, like an absent day: closed
    if not isinstance(ranges, list):
        raise ValueError(f"hours.{day} must be a list of [start, end] ranges")
    if len(ranges) > MAX_RANGES:
        raise ValueError(f"hours.{day}: more than {MAX_RANGES} ranges")
    out = []
    for pair in ranges:
        if not isinstance(pair, list) or len(pair) != 2:
            raise ValueError(f'hours.{day}: a range is ["HH:MM", "HH:MM"], got {pair!r}')
        out.append((_minute(pair[0], _START), _minute(pair[1], _END)))  # 24:00 only as an end
    return tuple(out)


def _holiday(text: Any) -> date:
    if not isinstance(text, str) or _DATE.fullmatch(text) is None:
        raise ValueError(f"not a date YYYY-MM-DD: {text!r}")
    return date.fromisoformat(text)  # raises ValueError for 2026-02-30


def parse_calendar(data: Mapping[str, Any]) -> Calendar:
    """The calendar of a raw ``calendar.set`` event; ValueError when the decoder would reject it."""
    if data.get("rep_id") is not None:
        raise ValueError("calendar.set is a team's: rep_id must be absent")
    zone = _zone(data.get("timezone"))
    hours = data.get("hours")
    if not isinstance(hours, dict):
        raise ValueError("hours must be an object mon..sun -> ranges")
    unknown = set(hours) - set(DAYS)
    if unknown:
        raise ValueError(f"hours: unknown days {sorted(map(str, unknown))}")
    holidays = data.get("holidays")
    if holidays is not None and not isinstance(holidays, list):
        raise ValueError("holidays must be a list of dates")
    if holidays is not None and len(holidays) > MAX_HOLIDAYS:
        raise ValueError(f"more than {MAX_HOLIDAYS} holidays")
    return Calendar(
        zone=zone,
        hours=tuple(_ranges(day, hours.get(day)) for day in DAYS),
        holidays=frozenset(_holiday(text) for text in holidays or ()),
    )


def is_valid_calendar(data: Mapping[str, Any]) -> bool:
    try:
        parse_calendar(data)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------- local instants


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _wall(t_us: int, zone: ZoneInfo) -> datetime:
    """The naive local wall time of an instant."""
    return (_EPOCH + timedelta(microseconds=t_us)).astimezone(zone).replace(tzinfo=None)


def local_instant(zone: ZoneInfo, day: date, minute: int) -> int:
    """The UTC instant (µs) of a local wall time ``minute`` minutes after ``day``'s 00:00 (may pass
    midnight): an ambiguous time is its first occurrence, a nonexistent one the end of its gap."""
    day += timedelta(days=minute // DAY_MINUTES)
    minute %= DAY_MINUTES
    local = datetime(day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=zone)
    wall, first = local.replace(tzinfo=None), _us(local)  # fold=0: the earlier offset
    if _wall(first, zone) == wall:
        return first
    # In a gap: fold=0 read it with the offset before the transition (an instant past the gap),
    # fold=1 with the one after (before the gap). The gap ends at the first instant showing >= wall.
    before, after = _us(local.replace(fold=1)), first
    while after - before > 1:
        middle = (before + after) // 2
        if _wall(middle, zone) >= wall:
            after = middle
        else:
            before = middle
    return after


def open_intervals(calendar: Calendar, day: date) -> list[tuple[int, int]]:
    """The UTC intervals [start, end) µs of the ranges starting on local ``day``: none on a holiday,
    cut at the next midnight when the next day is a holiday."""
    if day in calendar.holidays:
        return []
    zone = calendar.zone
    cut = local_instant(zone, day, DAY_MINUTES) if day + _ONE_DAY in calendar.holidays else None
    intervals = []
    for start, end in calendar.hours[day.weekday()]:
        begin = local_instant(zone, day, start)
        finish = local_instant(zone, day, end if end > start else DAY_MINUTES + end)
        if cut is not None:
            finish = min(finish, cut)
        if finish > begin:
            intervals.append((begin, finish))
    return intervals


def open_us(calendar: Calendar, start_us: int, end_us: int) -> int:
    """Microseconds of [start_us, end_us) inside the union of the calendar's open ranges."""
    if end_us <= start_us:
        return 0
    # a range of local day d lies within [d 00:00, d+2 00:00): days from the one before the span's on
    day = _wall(start_us, calendar.zone).date() - _ONE_DAY
    last = _wall(end_us, calendar.zone).date()
    intervals: list[tuple[int, int]] = []
    while day <= last:
        intervals.extend(open_intervals(calendar, day))
        day += _ONE_DAY
    total, reached = 0, start_us  # reached: the end of what is counted (overlaps count once)
    for begin, finish in sorted(intervals):
        begin, finish = max(begin, reached), min(finish, end_us)
        if finish > begin:
            total += finish - begin
            reached = finish
    return total


def business_us(changes: Sequence[Change], start_us: int, end_us: int) -> int:
    """Business microseconds in [start_us, end_us) on a team's SLA clock; 0 when end <= start.

    ``changes`` are the team's accepted ``calendar.set`` in event order (time, then event_id): the
    calendar in force at an instant is the last one stamped at or before it; before the first one
    every microsecond counts (the wall clock)."""
    if end_us <= start_us:
        return 0
    in_force: Calendar | None = None
    total, cursor = 0, start_us
    for stamp, calendar in changes:
        if stamp >= end_us:
            break
        if stamp > cursor:
            total += _measure(in_force, cursor, stamp)
            cursor = stamp
        in_force = calendar
    return total + _measure(in_force, cursor, end_us)


def _measure(calendar: Calendar | None, start_us: int, end_us: int) -> int:
    return end_us - start_us if calendar is None else open_us(calendar, start_us, end_us)

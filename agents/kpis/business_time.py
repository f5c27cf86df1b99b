"""Business time (SPEC §4 "Business time"): how much of a span a team's calendar has open, and when a wait
reaches a threshold on the team's SLA clock. Pure: the standard library and `zoneinfo` only; all times are
µs since the epoch.

What is open, exactly. Each range of a local day is one stretch of real time, from the instant its start
takes effect to the instant its end does; the open set is the union of those stretches.
- A range belongs to the day it starts on. One whose end is not after its start runs past midnight:
  `["22:00", "06:00"]` on fri is open fri 22:00 -> sat 06:00, and `["09:00", "09:00"]` is 09:00 -> 09:00
  the next day. `24:00` is the next midnight. Ranges may overlap (the union is open); a day absent is closed.
- A local time takes effect at the first instant whose wall time is at or past it: normally the instant
  it names; in a repeated (fall-back) hour its first occurrence (`fold=0`); in a skipped (spring-forward)
  hour the first instant after the gap. So on a day repeating 01:00-02:00, `["01:30", "03:00"]` is open
  2 h 30 min and `["00:00", "01:30"]` 1 h 30 min; on a day skipping 02:00-03:00, `["02:30", "04:00"]`
  opens at 03:00 (1 h) and `["02:00", "03:00"]` is never open.
- Real elapsed time is counted, so a 9-17 day is 8 h on both DST change days, a 00:00-24:00 day 23 h or
  25 h, and `["09:00", "09:00"]` across a change 23 h or 25 h.
- A holiday closes its own ranges entirely (their part past midnight too), and a range of the day before
  that runs past midnight into the holiday stops at the holiday's first instant.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Final, Literal
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from streams.records import CalendarSet

SECOND_US: Final = 1_000_000
MINUTE_US: Final = 60 * SECOND_US
DAY_US: Final = 86_400 * SECOND_US
WEEK_US: Final = 7 * DAY_US
DAY_MINUTES: Final = 1440
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()
_ONE_US: Final = timedelta(microseconds=1)
# Offsets are probed once a day and bisected where they differ: since 1970 no zone has two transitions
# less than 166 h apart (America/Cambridge_Bay, 2000), so a probe step of a day misses none.
_PROBE_S: Final = 86_400
_LAST_US: Final = (date(9990, 1, 1).toordinal() - _EPOCH_ORDINAL) * DAY_US  # past this a deadline is "never"
_CACHE_DAYS: Final = 4096  # per calendar, about eleven years of days

Interval = tuple[int, int]  # [start, end) µs, start < end
WeekHours = tuple[tuple[tuple[int, int], ...], ...]  # as `streams.calendar_fields.WeekHours`
Clock = Literal["business", "wall"]


@dataclass(frozen=True, slots=True)
class Calendar:
    """One `calendar.set`: the zone, the weekly open ranges (`hours[weekday]`, Monday 0, as (start, end)
    minutes after local midnight, start < 1440, start < end <= start + 1440) and the closed local dates."""

    zone: ZoneInfo
    hours: WeekHours
    holidays: frozenset[date] = frozenset()
    _holiday_days: frozenset[int] = field(init=False, repr=False, compare=False)
    _days: dict[int, tuple[Interval, ...]] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )  # the open intervals of each local day (by ordinal), worked out once

    def __post_init__(self) -> None:
        if len(self.hours) != 7:
            raise ValueError(f"hours must have 7 days (Monday first), got {len(self.hours)}")
        for ranges in self.hours:
            for start, end in ranges:
                if not 0 <= start < DAY_MINUTES or not start < end <= start + DAY_MINUTES:
                    raise ValueError(f"range ({start}, {end}) is not minutes 0 <= start < 1440, start < end <= +1440")
        object.__setattr__(self, "_holiday_days", frozenset(day.toordinal() for day in self.holidays))

    @classmethod
    def from_event(cls, event: CalendarSet) -> Calendar:
        return cls(ZoneInfo(event.timezone), event.hours, event.holidays)

    def open_intervals(self, start_us: int, end_us: int) -> list[Interval]:
        """The open instants in `[start_us, end_us)`, as sorted, disjoint, non-touching intervals."""
        if end_us <= start_us:
            return []
        # a day's ranges lie within two days of wall time, and offsets are under a day: these days cover the span
        first = start_us // DAY_US + _EPOCH_ORDINAL - 3
        last = (end_us - 1) // DAY_US + _EPOCH_ORDINAL + 1
        days = self._days
        missing = [ordinal for ordinal in range(first, last + 1) if ordinal not in days]
        if missing:
            if len(days) + len(missing) > _CACHE_DAYS:
                days.clear()
                missing = list(range(first, last + 1))
            midnight = (missing[0] - _EPOCH_ORDINAL) * DAY_US  # offsets for all missing days, probed once
            pieces = _offset_pieces(self.zone, midnight - DAY_US, midnight + (missing[-1] - missing[0] + 3) * DAY_US)
            for ordinal in missing:
                days[ordinal] = self._day_open(ordinal, pieces)
        found = [interval for ordinal in range(first, last + 1) for interval in days[ordinal]]
        found.sort()
        out: list[Interval] = []
        for lo, hi in found:
            lo, hi = max(lo, start_us), min(hi, end_us)
            if lo >= hi:
                continue
            if out and lo <= out[-1][1]:
                if hi > out[-1][1]:
                    out[-1] = (out[-1][0], hi)
            else:
                out.append((lo, hi))
        return out

    def reach(self, start_us: int, need_us: int, limit_us: int | None = None) -> tuple[int | None, int]:
        """The earliest instant t with `need_us` open µs in `[start_us, t)`, looking no further than `limit_us`;
        `(None, open µs seen)` when it is not reached by then (or never: no open range at all)."""
        if need_us <= 0:
            return start_us, 0
        if not any(self.hours):
            return None, 0
        seen, lo = 0, start_us
        while lo < (_LAST_US if limit_us is None else min(limit_us, _LAST_US)):
            hi = lo + WEEK_US if limit_us is None else min(lo + WEEK_US, limit_us)
            for a, b in self.open_intervals(lo, hi):
                if seen + (b - a) >= need_us:
                    return a + (need_us - seen), need_us
                seen += b - a
            lo = hi
        return None, seen

    def _day_open(self, ordinal: int, pieces: Sequence[tuple[int, int, int]]) -> tuple[Interval, ...]:
        """The instants the ranges of local day `ordinal` hold open (the next day's holiday cut out); `pieces`
        are the zone's offsets from a day before its midnight to three days after, or more."""
        ranges = self.hours[(ordinal + 6) % 7]
        if not ranges or ordinal in self._holiday_days:
            return ()
        midnight = (ordinal - _EPOCH_ORDINAL) * DAY_US  # its wall time, as if it were UTC
        cut = _takes_effect(pieces, midnight + DAY_US) if ordinal + 1 in self._holiday_days else None
        held = []
        for start, end in ranges:
            lo = _takes_effect(pieces, midnight + start * MINUTE_US)
            hi = _takes_effect(pieces, midnight + end * MINUTE_US)
            if cut is not None:
                hi = min(hi, cut)
            if lo < hi:
                held.append((lo, hi))
        return tuple(_union(held))


def business_us(calendar: Calendar, start_us: int, end_us: int) -> int:
    """Business µs between two instants on one calendar (0 when `end_us <= start_us`)."""
    return sum(hi - lo for lo, hi in calendar.open_intervals(start_us, end_us))


@dataclass(frozen=True, slots=True)
class TeamClock:
    """A team's SLA clock: its calendars over time as `(effective_from_us, calendar)` in event-time order
    (`None`: the wall clock). The calendar in force at an instant is the latest one effective at or before
    it (of equal stamps, the last given); before the first, every µs is a business µs."""

    changes: tuple[tuple[int, Calendar | None], ...] = ()

    def __post_init__(self) -> None:
        if any(a[0] > b[0] for a, b in zip(self.changes, self.changes[1:], strict=False)):
            raise ValueError("TeamClock changes must be in order of effective_from_us (use TeamClock.of)")

    @classmethod
    def of(cls, changes: Iterable[tuple[int, Calendar | None]]) -> TeamClock:
        """From changes in any order (a stable sort: of equal stamps the last given stays in force)."""
        return cls(tuple(sorted(changes, key=lambda change: change[0])))

    def calendar_at(self, at_us: int) -> Calendar | None:
        n = bisect_right(self.changes, at_us, key=lambda change: change[0])
        return self.changes[n - 1][1] if n else None

    def clock_at(self, at_us: int) -> Clock:
        """The alert's `clock` field: `business` when a calendar is in force at `at_us`, else `wall`."""
        return "wall" if self.calendar_at(at_us) is None else "business"

    def business_us(self, start_us: int, end_us: int) -> int:
        """Business µs between two instants, each part of the span on the calendar in force then."""
        total = 0
        for lo, hi, calendar in self._segments(start_us, end_us):
            assert hi is not None
            total += hi - lo if calendar is None else business_us(calendar, lo, hi)
        return total

    def deadline(self, start_us: int, need_us: int) -> int | None:
        """The earliest instant t with `business_us(start_us, t) >= need_us` (a lead created at `start_us`
        breaches a threshold of `need_us` then); None if the clock never gets there (no open range again)."""
        if need_us <= 0:
            return start_us
        for lo, hi, calendar in self._segments(start_us, None):
            if calendar is None:
                if hi is None or lo + need_us <= hi:
                    return lo + need_us
                need_us -= hi - lo
                continue
            at, seen = calendar.reach(lo, need_us, hi)
            if at is not None:
                return at
            need_us -= seen
        return None

    def _segments(self, start_us: int, end_us: int | None) -> Iterator[tuple[int, int | None, Calendar | None]]:
        """`[start_us, end_us)` cut where the calendar changes: (from, to or None for open-ended, calendar)."""
        if end_us is not None and end_us <= start_us:
            return
        changes = self.changes
        n = bisect_right(changes, start_us, key=lambda change: change[0])
        lo, calendar = start_us, changes[n - 1][1] if n else None
        for at, following in changes[n:]:
            if end_us is not None and at >= end_us:
                break
            if at > lo:
                yield lo, at, calendar
                lo = at
            calendar = following
        yield lo, end_us, calendar


def _offset_at(zone: ZoneInfo, second: int) -> int:
    offset = datetime.fromtimestamp(second, zone).utcoffset()
    assert offset is not None
    return offset // _ONE_US


def _offset_pieces(zone: ZoneInfo, start_us: int, end_us: int) -> list[tuple[int, int, int]]:
    """`[start_us, end_us)` as (from, to, UTC offset µs) pieces of one offset each. Zone transitions fall on
    whole seconds, so bisecting seconds finds each exactly."""
    last = (end_us - 1) // SECOND_US
    probes = [*range(start_us // SECOND_US, last, _PROBE_S), last]
    pieces: list[tuple[int, int, int]] = []
    lo, offset = start_us, _offset_at(zone, probes[0])
    for before, after in zip(probes, probes[1:], strict=False):
        later = _offset_at(zone, after)
        if later == offset:
            continue
        while after - before > 1:  # the first second with the new offset
            middle = (before + after) // 2
            if _offset_at(zone, middle) == offset:
                before = middle
            else:
                after = middle
        pieces.append((lo, after * SECOND_US, offset))
        lo, offset = after * SECOND_US, later
    pieces.append((lo, end_us, offset))
    return pieces


def _takes_effect(pieces: Sequence[tuple[int, int, int]], wall: int) -> int:
    """The first instant whose wall time (µs, as if UTC) is at or past `wall`: its first occurrence when
    repeated, the end of the gap when skipped."""
    return min(max(lo, wall - offset) for lo, hi, offset in pieces if wall - offset < hi)


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out

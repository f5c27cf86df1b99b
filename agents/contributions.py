"""What one entity adds to the aggregates: a pure function of its events, so that a change is the
difference of two contributions and replays, duplicates and reordering cannot skew a total.

A contribution maps `(team, rep, bucket, field)` to a number. Buckets are `d<YYYY-MM-DD>` (local
business day), `m<epoch minute>`, `p<YYYY-MM>` (target period) and `live` (state right now). A field
is a name, or, in the team and floor `live` buckets, the creation time (µs, an int) of an awaiting lead
counted once: a lead's answer then moves that time's count by exactly -1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

ALL = "_all"
UNASSIGNED = "_unassigned"
LIVE = "live"
MINUTE_US = 60_000_000

Key = tuple[str, str, str, str | int]  # team, rep, bucket, field name or awaiting lead's creation µs
Contribution = dict[Key, int]
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
CompactEvent = dict[str, Any]


class BucketClock:
    """Maps event times to bucket names in the business time zone (cached per hour, DST-safe)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._day_of_hour: dict[int, str] = {}
        # Minute buckets only serve `last_60m`; older ones are not worth computing or shipping.
        # The worker moves this forward on the wall clock (two hours back); 0 keeps every minute.
        self.first_minute = 0

    def day(self, at_us: int) -> str:
        hour = at_us // 3_600_000_000
        day = self._day_of_hour.get(hour)
        if day is not None:
            return day
        first = (_EPOCH + timedelta(hours=hour)).astimezone(self.zone).date()
        last = (_EPOCH + timedelta(hours=hour, seconds=3599.999999)).astimezone(self.zone).date()
        if first != last:  # a local midnight inside this UTC hour (zones with a half-hour offset)
            return "d" + (_EPOCH + timedelta(microseconds=at_us)).astimezone(self.zone).date().isoformat()
        if len(self._day_of_hour) > 100_000:
            self._day_of_hour.clear()
        day = self._day_of_hour[hour] = "d" + first.isoformat()
        return day

    @staticmethod
    def minute(at_us: int) -> str:
        return f"m{at_us // MINUTE_US}"


def response_bucket(value_us: int) -> int:
    """Histogram bucket of a response time: whole seconds below 100 s, 1 % wide above."""
    seconds = value_us / 1_000_000
    if seconds < 100:
        return int(seconds)
    return 100 + int(math.log(seconds / 100) / math.log(1.01))


def response_bucket_value(index: int) -> float:
    """The value reported for a histogram bucket: within 0.5 s below 100 s, within 0.5 % above."""
    if index < 100:
        return index + 0.5
    low = 100 * 1.01 ** (index - 100)
    return math.sqrt(low * low * 1.01)


class ContributionBuilder:
    """Collects one entity's contribution, expanding each value to rep, team and floor."""

    __slots__ = ("clock", "out")

    def __init__(self, clock: BucketClock) -> None:
        self.clock = clock
        self.out: Contribution = {}

    def _put(self, key: Key, value: int) -> None:
        out = self.out
        out[key] = out.get(key, 0) + value

    def add(self, team: str, rep: str, at_us: int, field: str, value: int = 1) -> None:
        """A windowed value at event time `at_us`: in its day and minute buckets, at every level."""
        day = self.clock.day(at_us)
        levels = ((team, rep), (team, ALL), (ALL, ALL))
        for level_team, level_rep in levels:
            self._put((level_team, level_rep, day, field), value)
        if at_us // MINUTE_US >= self.clock.first_minute:
            minute = f"m{at_us // MINUTE_US}"
            for level_team, level_rep in levels:
                self._put((level_team, level_rep, minute, field), value)

    def add_live(self, team: str, rep: str, field: str, value: int = 1) -> None:
        for level_team, level_rep in ((team, rep), (team, ALL), (ALL, ALL)):
            self._put((level_team, level_rep, LIVE, field), value)

    def add_awaiting_since(self, team: str, created_us: int) -> None:
        """An awaiting lead's creation time, for the team's and the floor's oldest awaiting lead."""
        self._put((team, ALL, LIVE, created_us), 1)
        self._put((ALL, ALL, LIVE, created_us), 1)

    def set_exact(self, team: str, rep: str, bucket: str, field: str, value: int) -> None:
        """A value for one level only (targets are set per team or per rep, never summed)."""
        self._put((team, rep, bucket, field), value)


def difference(new: Mapping[Key, int], old: Mapping[Key, int]) -> Contribution:
    """`new - old` without zero entries."""
    delta: Contribution = {}
    for key, value in new.items():
        change = value - old.get(key, 0)
        if change:
            delta[key] = change
    for key, value in old.items():
        if key not in new and value:
            delta[key] = -value
    return delta


def earliest(events: Iterable[CompactEvent]) -> CompactEvent | None:
    """The earliest event by time; equal times ordered by event id."""
    return min(events, key=_order, default=None)


def latest(events: Iterable[CompactEvent]) -> CompactEvent | None:
    return max(events, key=_order, default=None)


def _order(event: CompactEvent) -> tuple[int, str]:
    return event["a"], event["i"]


def by_time(events: Iterable[CompactEvent]) -> list[CompactEvent]:
    return sorted(events, key=_order)

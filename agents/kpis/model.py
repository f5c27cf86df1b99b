"""The vocabulary every KPI family shares: the compact event, the entity, buckets, contributions and
the `Family` a KPI module declares.

A contribution maps `(team, rep, bucket, field)` to a number. Buckets are `d<YYYY-MM-DD>` (local
business day), `m<epoch minute>`, `w<YYYY-MM-DD>` (a day's won amounts by local second of day),
`t<YYYY-MM-DD>+<HH>` (the paced fields of hour HH of a local day by its minute, team and floor only, see
`ContributionBuilder.add`), `p<period>:<metric>` (one target), `live` (state right now), and in the
aggregates only `M<YYYY-MM>` (a month's rollup of the days that left the history). A field
is a name, or, in the team and floor `live` buckets, the creation time (µs, an int) of an awaiting lead
counted once: a lead's answer then moves that time's count by exactly -1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from agents.kpis.business_time import TeamClock
    from agents.kpis.terms import LeadFacts

Clocks = Mapping[str, "TeamClock"]  # team -> its SLA clock (teams without a calendar are absent)

ALL = "_all"
UNASSIGNED = "_unassigned"
LIVE = "live"
PACE = "t"  # bucket kind: t<YYYY-MM-DD>+<HH>, fields <field>@<minute of the local day>
MINUTE_US = 60_000_000
MICRO = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_HOURS = tuple(f"{hour:02d}" for hour in range(25))  # of a local day, as time-of-day buckets name them


class CompactEvent(TypedDict):
    """The few fields of an event the KPIs need, as the entity stage stores them (one-letter keys keep
    a stored lead at ~200 bytes); amounts and durations in exact integer micro-units."""

    i: str  # event_id
    y: str  # type
    a: int  # occurred_at, µs since the epoch
    T: str  # team_id
    R: str | None  # rep_id
    L: NotRequired[str]  # lead_id
    E: NotRequired[str]  # email_id
    D: NotRequired[str]  # deal_id
    C: NotRequired[str]  # call_id
    M: NotRequired[str]  # meeting_id
    u: NotRequired[str]  # lead source (lead.created)
    d: NotRequired[str]  # call direction
    o: NotRequired[str]  # call or meeting outcome
    s: NotRequired[int]  # call duration, µs
    m: NotRequired[int | None]  # deal amount, micro-units
    S: NotRequired[str]  # deal stage (deal.stage_changed)
    P: NotRequired[str]  # target period
    K: NotRequired[str]  # target metric
    v: NotRequired[int]  # target value, micro-units
    z: NotRequired[list[Any]]  # calendar.set: [timezone, hours (7 days of [start, end] minutes), holidays]


class Entity:
    """One entity's key (kind letter + id: `L`ead, `E`mail, `D`eal, `C`all, `M`eeting, `T`arget) and its distinct
    events, with its events by type and its lead facts worked out once for all families."""

    __slots__ = ("_by_type", "events", "key", "kind", "lead")

    def __init__(self, key: str, events: list[CompactEvent]) -> None:
        self.key = key
        self.kind = key[0]
        self.events = events
        self.lead: LeadFacts | None = None  # set by `terms.lead_facts` on first use
        self._by_type: dict[str, list[CompactEvent]] | None = None

    def of(self, kind: str) -> list[CompactEvent]:
        """This entity's events of one type, in arrival order."""
        by_type = self._by_type
        if by_type is None:
            by_type = self._by_type = {}
            for event in self.events:
                by_type.setdefault(event["y"], []).append(event)
        return by_type.get(kind, [])


Key = tuple[str, str, str, str | int]  # team, rep, bucket, field name or awaiting lead's creation µs
Contribution = dict[Key, int]
Fields = Mapping[str, int]
Labels = dict[str, str]
Series = tuple[str, Labels, float]


class BucketClock:
    """Maps event times to bucket names in the business time zone (cached per hour, DST-safe)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._day_of_hour: dict[int, str] = {}
        # Minute buckets only serve `last_60m`; older ones are not worth computing or shipping.
        # The worker moves this forward on the wall clock (two hours back); 0 keeps every minute.
        self.first_minute = 0
        self._first_pace_day = ""
        self._start_of_day: dict[str, int] = {}
        self._pace_of_day: dict[str, tuple[int, str] | None] = {}

    @property
    def first_pace_day(self) -> str:
        """Time-of-day buckets only serve today against the same time yesterday: the worker moves this
        (YYYY-MM-DD) to yesterday's local date; empty keeps every day."""
        return self._first_pace_day

    @first_pace_day.setter
    def first_pace_day(self, day: str) -> None:
        if day != self._first_pace_day:
            self._first_pace_day = day
            self._pace_of_day.clear()

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

    def day_start_us(self, day: str) -> int:
        """The first µs of a local day (`dYYYY-MM-DD`), cached: its midnight, or the first instant after a
        DST change at midnight."""
        start = self._start_of_day.get(day)
        if start is None:
            if len(self._start_of_day) > 10_000:
                self._start_of_day.clear()
            start = self._start_of_day[day] = day_start_us(date.fromisoformat(day[1:]), self.zone)
        return start

    def pace_of(self, day: str) -> tuple[int, str] | None:
        """A local day's (`dYYYY-MM-DD`) first µs and its time-of-day buckets' prefix, `t<YYYY-MM-DD>+`;
        None before `first_pace_day`. Cached: every paced value asks."""
        try:
            return self._pace_of_day[day]
        except KeyError:
            pace = None if day[1:] < self._first_pace_day else (self.day_start_us(day), f"{PACE}{day[1:]}+")
            if len(self._pace_of_day) > 10_000:
                self._pace_of_day.clear()
            self._pace_of_day[day] = pace
            return pace


def day_start_us(day: date, zone: ZoneInfo) -> int:
    """The earliest instant (µs) whose local date is `day`: local midnight, whichever offset gives the
    earliest one of that date (a DST change at midnight repeats or skips it)."""
    starts = []
    for fold in (0, 1):
        moment = datetime.combine(day, time(fold=fold), zone).astimezone(timezone.utc)
        if moment.astimezone(zone).date() == day:
            starts.append(moment)
    moment = min(starts)
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * MICRO + delta.microseconds


class ContributionBuilder:
    """Collects one entity's contribution, expanding each value to rep, team and floor."""

    __slots__ = ("clock", "clocks", "out", "paced")

    def __init__(
        self, clock: BucketClock, clocks: Clocks, paced: frozenset[str] = frozenset(), out: Contribution | None = None
    ) -> None:
        self.clock = clock
        self.clocks = clocks
        self.paced = paced  # fields also kept by minute of the local day (the families' `paced`)
        self.out: Contribution = {} if out is None else out  # families only add to it: it may hold others' sums

    def business_us(self, team: str, start_us: int, end_us: int) -> int:
        """µs from `start_us` to `end_us` on the team's SLA clock (the wall clock without a calendar)."""
        clock = self.clocks.get(team)
        if clock is None:
            return max(0, end_us - start_us)
        return clock.business_us(start_us, end_us)

    def _put(self, key: Key, value: int) -> None:
        out = self.out
        out[key] = out.get(key, 0) + value

    def add(self, team: str, rep: str, at_us: int, field: str, value: int = 1) -> None:
        """A windowed value at event time `at_us`: in its day and minute buckets, at every level; a
        paced field also by its minute of the local day, for the team and the floor."""
        clock, out = self.clock, self.out  # the hot path of every contribution: `_put` inlined
        day = clock.day(at_us)
        get = out.get
        for key in ((team, rep, day, field), (team, ALL, day, field), (ALL, ALL, day, field)):
            out[key] = get(key, 0) + value
        minute_index = at_us // MINUTE_US
        if minute_index >= clock.first_minute:
            minute = f"m{minute_index}"
            for key in ((team, rep, minute, field), (team, ALL, minute, field), (ALL, ALL, minute, field)):
                out[key] = get(key, 0) + value
        if field in self.paced:
            self._pace(team, day, at_us, field, value)

    def add_team(self, team: str, at_us: int, field: str, value: int = 1) -> None:
        """A windowed value of the team and the floor only (a breakdown without reps)."""
        day = self.clock.day(at_us)
        self._put((team, ALL, day, field), value)
        self._put((ALL, ALL, day, field), value)
        if at_us // MINUTE_US >= self.clock.first_minute:
            minute = f"m{at_us // MINUTE_US}"
            self._put((team, ALL, minute, field), value)
            self._put((ALL, ALL, minute, field), value)
        if field in self.paced:
            self._pace(team, day, at_us, field, value)

    def _pace(self, team: str, day: str, at_us: int, field: str, value: int) -> None:
        """`field@<minute of the local day>` in bucket `t<day>+<hour of the day>` (an hour a bucket: a
        changed bucket is shipped whole, so a day's 1440 minutes are not), from `first_pace_day` on."""
        pace = self.clock.pace_of(day)
        if pace is None:
            return
        minute = (at_us - pace[0]) // MINUTE_US
        hour = minute // 60
        bucket, name = pace[1] + (_HOURS[hour] if hour < 25 else str(hour)), f"{field}@{minute}"
        out = self.out
        key: Key = (team, ALL, bucket, name)
        out[key] = out.get(key, 0) + value
        key = (ALL, ALL, bucket, name)
        out[key] = out.get(key, 0) + value

    def add_live(self, team: str, rep: str, field: str, value: int = 1) -> None:
        for level_team, level_rep in ((team, rep), (team, ALL), (ALL, ALL)):
            self._put((level_team, level_rep, LIVE, field), value)

    def add_live_team(self, team: str, field: str, value: int) -> None:
        """A live value of the team and the floor only (a breakdown without reps)."""
        self._put((team, ALL, LIVE, field), value)
        self._put((ALL, ALL, LIVE, field), value)

    def add_by_time(self, team: str, rep: str, at_us: int, prefix: str, value: int) -> None:
        """A value kept by its local second of day, in bucket `<prefix><YYYY-MM-DD>` (not part of any
        window's sums): for KPIs that cut a day at a time of day."""
        bucket = prefix + self.clock.day(at_us)[1:]
        local = (_EPOCH + timedelta(microseconds=at_us)).astimezone(self.clock.zone)
        second = str(local.hour * 3600 + local.minute * 60 + local.second)
        for level_team, level_rep in ((team, rep), (team, ALL), (ALL, ALL)):
            self._put((level_team, level_rep, bucket, second), value)

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


# metric name, field, scale (micro-units to base units)
Count = tuple[str, str, int]
# metric name, numerator field, denominator fields (summed), numerator scale; not exported when 0
Ratio = tuple[str, str, tuple[str, ...], int]


@dataclass(frozen=True)
class PeriodContext:
    """What a KPI of the `today` or `month` window that needs more than the window's summed fields
    (targets, growth) reads: those fields, all the key's buckets, and when "now" is."""

    window: str  # "today" or "month"
    period: str  # YYYY-MM-DD for today, YYYY-MM for month
    acc: Fields
    buckets: Mapping[str, Fields]
    labels: Labels
    now_us: int  # the wall clock
    clock: BucketClock

    @property
    def floor(self) -> bool:
        return self.labels["team"] == ALL


@dataclass(frozen=True)
class Family:
    """One KPI family, declared by its module: what an entity contributes, the fields it writes,
    and how those fields become the series of SPEC §4."""

    name: str
    kinds: str  # the entity kinds whose events it reads
    contribute: Callable[[Entity, ContributionBuilder], None]
    fields: tuple[str, ...]  # field names (or prefixes) it writes, unique across families
    paced: tuple[str, ...] = ()  # of those, the ones kept by minute of day too (today against yesterday)
    counts: tuple[Count, ...] = ()
    ratios: tuple[Ratio, ...] = ()
    windowed: Callable[[Fields, Labels], Iterator[Series]] | None = None  # series beyond counts and ratios
    periodic: Callable[[PeriodContext], Iterator[Series]] | None = None  # windows `today` and `month`
    live: Callable[[Fields, str, str, int, Clocks], Iterator[Series]] | None = None  # live fields, team, rep, now
    extra: tuple[str, ...] = ()  # windowed metrics its `windowed` and `periodic` functions export
    help: Mapping[str, str] | None = None  # HELP text of metrics whose name says too little

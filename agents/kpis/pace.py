"""Today against the same time yesterday, and today hour by hour, for the wallboard: read from a team's
(or the floor's) time-of-day buckets, `t<YYYY-MM-DD>+<HH>` with fields `<field>@<minute of the local day>`,
which `ContributionBuilder` writes for the families' paced fields and the stages keep for yesterday and
today (`Horizon.first_pace_day`).

A minute of the day counts from the day's first instant, so a 25-hour day has 1500 and the two passes of
its repeated hour stay apart; local wall-clock times are worked out from it here, in the business zone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from agents.kpis import targets
from agents.kpis.model import MICRO, MINUTE_US, PACE, BucketClock, Fields, day_start_us

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
HOURS = 25  # a day's time-of-day buckets: +00 to +24 (the 25th hour of a long DST day)
HOURLY = ("won_amount", "calls_outbound")  # the board's chart
Metrics = Mapping[str, tuple[str, int]]  # metric -> its field and scale
Summary = tuple[dict[str, int], dict[str, list[tuple[int, int]]]]  # a bucket's sums by field, by field and minute


def paced_metrics(paced: frozenset[str]) -> dict[str, tuple[str, int]]:
    """The target metrics (SPEC §4.3) whose KPI field is paced: metric -> (field, scale)."""
    return {metric: (field, scale) for metric, (field, scale) in targets.METRICS.items() if field in paced}


class PaceReader:
    """Reads a key's time-of-day buckets, keeping each bucket's sums until the bucket changes: the aggregate
    view replaces a bucket's fields on every change (it never edits them in place), so a bucket is summed
    once per change, not once per board document (a board is rebuilt every 0.2 s for each team shown)."""

    def __init__(self) -> None:
        self._kept: dict[tuple[Any, str], tuple[Fields, Summary]] = {}

    def summary(self, key: Any, bucket: str, fields: Fields) -> Summary:
        kept = self._kept.get((key, bucket))
        if kept is not None and kept[0] is fields:
            return kept[1]
        totals: dict[str, int] = {}
        by_minute: dict[str, list[tuple[int, int]]] = {}
        for name, value in fields.items():
            field, _, minute = name.partition("@")
            totals[field] = totals.get(field, 0) + value
            by_minute.setdefault(field, []).append((int(minute), value))
        if len(self._kept) > 20_000:  # days gone by, keys no longer shown
            self._kept.clear()
        self._kept[(key, bucket)] = (fields, (totals, by_minute))
        return totals, by_minute

    def same_time_yesterday(
        self, key: Any, buckets: Mapping[str, Fields], now_us: int, clock: BucketClock, metrics: Metrics
    ) -> dict[str, float]:
        """Each metric's value yesterday up to and including the minute of yesterday at the same local
        wall-clock time as now (`yesterday_cut`)."""
        day, last = yesterday_cut(now_us // MINUTE_US, clock.zone)
        totals: dict[str, int] = {}
        for hour, (whole, by_minute) in self._hours(key, buckets, day, last):
            for field, value in whole.items():
                if hour < last // 60:
                    totals[field] = totals.get(field, 0) + value
                else:
                    totals[field] = totals.get(field, 0) + sum(v for m, v in by_minute[field] if m <= last)
        return {metric: totals.get(field, 0) / scale for metric, (field, scale) in metrics.items()}

    def hourly(
        self, key: Any, buckets: Mapping[str, Fields], now_us: int, clock: BucketClock, metrics: Metrics
    ) -> list[dict[str, Any]]:
        """Today's local hours so far (the current one included), each `{"hour": "HH:00", "start": UTC
        instant, metric: value, ...}`: a DST day has 23 or 25 of them, its repeated hour twice."""
        day_bucket = clock.day(now_us)
        day = day_bucket[1:]
        hours, hour_of_minute, whole_hours = local_hours(date.fromisoformat(day), clock.zone)
        current = (now_us - clock.day_start_us(day_bucket)) // MINUTE_US
        count = hour_of_minute[min(current, len(hour_of_minute) - 1)] + 1
        sums = [dict.fromkeys(metrics, 0) for _ in range(count)]
        metric_of = {field: metric for metric, (field, _scale) in metrics.items()}
        for hour, (totals, by_minute) in self._hours(key, buckets, day, current):
            for field, metric in metric_of.items():
                if field not in totals:
                    continue
                if whole_hours[hour] >= 0 and hour < current // 60:  # a past hour, all of one local hour
                    sums[whole_hours[hour]][metric] += totals[field]
                    continue
                for minute, value in by_minute[field]:
                    if minute <= current:  # an event stamped a little ahead waits for its hour
                        sums[hour_of_minute[minute]][metric] += value
        return [
            {"hour": label, "start": start, **{m: sums[n][m] / scale for m, (_f, scale) in metrics.items()}}
            for n, (label, start) in enumerate(hours[:count])
        ]

    def _hours(
        self, key: Any, buckets: Mapping[str, Fields], day: str, last_minute: int
    ) -> Iterator[tuple[int, Summary]]:
        """Each hour bucket of a local day up to the one holding minute `last_minute`, summed (empty ones skipped)."""
        for hour in range(min(last_minute // 60, HOURS - 1) + 1):
            bucket = f"{PACE}{day}+{hour:02d}"
            fields = buckets.get(bucket)
            if fields:
                yield hour, self.summary(key, bucket, fields)

    def document(
        self, key: Any, buckets: Mapping[str, Fields], now_us: int, clock: BucketClock, paced: frozenset[str]
    ) -> dict[str, Any]:
        """What the wallboard shows of a team's (or the floor's) pace: `yesterday` (each paced metric up
        to the same local time yesterday) and `hourly` (today's won amount and calls by local hour)."""
        metrics = paced_metrics(paced)
        return {
            "yesterday": self.same_time_yesterday(key, buckets, now_us, clock, metrics),
            "hourly": self.hourly(key, buckets, now_us, clock, {m: metrics[m] for m in HOURLY if m in metrics}),
        }


def same_time_yesterday(
    buckets: Mapping[str, Fields], now_us: int, clock: BucketClock, metrics: Metrics
) -> dict[str, float]:
    return PaceReader().same_time_yesterday(None, buckets, now_us, clock, metrics)


def hourly(buckets: Mapping[str, Fields], now_us: int, clock: BucketClock, metrics: Metrics) -> list[dict[str, Any]]:
    return PaceReader().hourly(None, buckets, now_us, clock, metrics)


@lru_cache(maxsize=8)  # every team of a board asks for the same few
def yesterday_cut(now_minute: int, zone: ZoneInfo) -> tuple[str, int]:
    """Yesterday's local date and its last minute whose local wall-clock time is not after now's: the
    same time of day; the later pass of a repeated one; the last minute before a skipped one."""
    now = (_EPOCH + timedelta(minutes=now_minute)).astimezone(zone)
    day = now.date() - timedelta(days=1)
    start = day_start_us(day, zone)
    length = (day_start_us(day + timedelta(days=1), zone) - start) // MINUTE_US
    wall = (now.hour, now.minute)

    def wall_at(minute: int) -> tuple[int, int]:
        local = (_EPOCH + timedelta(microseconds=start + minute * MINUTE_US)).astimezone(zone)
        return local.hour, local.minute

    guess = datetime.combine(day, time(now.hour, now.minute, fold=1), zone).astimezone(timezone.utc)
    minute = min(max(0, (_us(guess) - start) // MINUTE_US), length - 1)
    while minute > 0 and wall_at(minute) > wall:
        minute -= 1
    while minute + 1 < length and wall_at(minute + 1) <= wall:
        minute += 1
    return day.isoformat(), minute


@lru_cache(maxsize=4)
def local_hours(day: date, zone: ZoneInfo) -> tuple[tuple[tuple[str, str], ...], tuple[int, ...], tuple[int, ...]]:
    """A local day's hours in order, each (label "HH:00", its start as a UTC instant); the hour (index)
    of each of the day's minutes; and for each time-of-day bucket (+HH) the one hour all its minutes are
    in (-1: none, or two). A change of offset starts a new hour, so a repeated hour is there twice and a
    skipped one not at all."""
    start = day_start_us(day, zone)
    length = (day_start_us(day + timedelta(days=1), zone) - start) // MINUTE_US
    hours: list[tuple[str, str]] = []
    hour_of_minute: list[int] = []
    previous: tuple[int, timedelta | None] | None = None
    for minute in range(length):
        moment = _EPOCH + timedelta(microseconds=start + minute * MINUTE_US)
        local = moment.astimezone(zone)
        key = (local.hour, local.utcoffset())
        if key != previous:
            previous = key
            hours.append((f"{local.hour:02d}:00", moment.isoformat().replace("+00:00", "Z")))
        hour_of_minute.append(len(hours) - 1)
    whole = []
    for bucket in range(HOURS):
        within = set(hour_of_minute[bucket * 60 : bucket * 60 + 60])
        whole.append(within.pop() if len(within) == 1 and bucket * 60 + 60 <= length else -1)
    return tuple(hours), tuple(hour_of_minute), tuple(whole)


def _us(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86400 + delta.seconds) * MICRO + delta.microseconds

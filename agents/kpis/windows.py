"""Which buckets make up a window (SPEC §3), which buckets are still retained, and the wall clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from agents.kpis.model import MICRO, MINUTE_US, PACE, BucketClock, Fields

WINDOWS = ("today", "month", "last_60m")
MINUTES_KEPT_US = 7_200_000_000  # minute buckets serve last_60m; two hours leave room for late events


def window_buckets(window: str, now_us: int, clock: BucketClock, day: date | None = None) -> tuple[str, ...]:
    """Bucket names making up a window: one day, the days of a month, or sixty minutes."""
    if window == "last_60m":
        return minute_buckets(now_us // MINUTE_US)
    today = day or date.fromisoformat(clock.day(now_us)[1:])
    if window == "today":
        return ("d" + today.isoformat(),)
    return month_buckets(today.replace(day=1))


@lru_cache(maxsize=4)  # every team/rep of a scrape asks for the same few
def minute_buckets(current: int) -> tuple[str, ...]:
    return tuple(f"m{m}" for m in range(current - 59, current + 1))


@lru_cache(maxsize=16)
def month_buckets(first: date) -> tuple[str, ...]:
    """The month's rollup (its days folded in once they leave the day history) and its days."""
    following = (first + timedelta(days=32)).replace(day=1)
    days = tuple("d" + (first + timedelta(days=n)).isoformat() for n in range((following - first).days))
    return ("M" + first.isoformat()[:7], *days)


def sum_fields(buckets: Mapping[str, Fields], names: tuple[str, ...]) -> dict[str, int]:
    total: dict[str, int] = {}
    for name in names:
        fields = buckets.get(name)
        if fields:
            for key, value in fields.items():
                total[key] = total.get(key, 0) + value
    return total


@dataclass(frozen=True)
class Horizon:
    """Which buckets are still kept: days (and their by-time and day-target buckets) from `first_day`
    on, minutes of the last two hours (they only serve `last_60m`), the time-of-day buckets of
    yesterday and today (`first_pace_day` on: they only serve today against yesterday), and months
    (rollups and month targets) from `first_month` on. The entity stage keeps what the events'
    retention covers; the aggregates keep the history (`SALESFLOOR_HISTORY_DAYS`, and 13 months)."""

    first_day: str  # "dYYYY-MM-DD"
    first_minute: int
    first_month: str = ""  # "YYYY-MM"; empty: the month of `first_day`
    first_pace_day: str = ""  # "YYYY-MM-DD"; empty: `first_day`

    @classmethod
    def at(cls, now_us: int, retention_us: int, clock: BucketClock) -> Horizon:
        return cls(
            first_day=clock.day(now_us - retention_us),
            first_minute=(now_us - MINUTES_KEPT_US) // MINUTE_US,
            first_pace_day=cls.pace_day(now_us, clock),
        )

    @classmethod
    def history(cls, now_us: int, history_days: float, clock: BucketClock) -> Horizon:
        """Days for `history_days`, months for 13 (this one and the 12 before)."""
        today = date.fromisoformat(clock.day(now_us)[1:])
        year, month = divmod(today.year * 12 + today.month - 1 - MONTHS_KEPT + 1, 12)
        return cls(
            first_day=clock.day(now_us - round(history_days * 86_400_000_000)),
            first_minute=(now_us - MINUTES_KEPT_US) // MINUTE_US,
            first_month=f"{year:04d}-{month + 1:02d}",
            first_pace_day=cls.pace_day(now_us, clock),
        )

    @staticmethod
    def pace_day(now_us: int, clock: BucketClock) -> str:
        """The first local day (YYYY-MM-DD) whose time-of-day buckets are kept: yesterday."""
        return (date.fromisoformat(clock.day(now_us)[1:]) - timedelta(days=1)).isoformat()

    def keeps(self, bucket: str) -> bool:
        kind = bucket[0]
        if kind == "d":
            return bucket >= self.first_day
        if kind == "w":  # won amounts by time of day, per day
            return bucket[1:] >= self.first_day[1:]
        if kind == PACE:  # t<YYYY-MM-DD>+<HH>
            return bucket[1:11] >= (self.first_pace_day or self.first_day[1:])
        if kind == "m":
            return int(bucket[1:]) >= self.first_minute
        if kind == "p":  # p<YYYY-MM> or p<YYYY-MM-DD>, then `:<metric>` for targets
            period = bucket[1:].partition(":")[0]
            return (
                period >= (self.first_month or self.first_day[1:8])
                if len(period) == 7
                else period >= self.first_day[1:]
            )
        if kind == "M":
            return bucket[1:] >= (self.first_month or self.first_day[1:8])
        return True

    def frozen_before(self) -> str:
        """Buckets of days before this one (YYYY-MM-DD) no longer change (see `PartialAggregates.apply`)."""
        return self.first_day[1:]


MONTHS_KEPT = 13


def now_us() -> int:
    delta = datetime.now(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * MICRO + delta.microseconds

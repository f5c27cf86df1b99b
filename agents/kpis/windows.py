"""Which buckets make up a window (SPEC §3), which buckets are still retained, and the wall clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from agents.kpis.model import MICRO, MINUTE_US, BucketClock, Fields

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
    following = (first + timedelta(days=32)).replace(day=1)
    return tuple("d" + (first + timedelta(days=n)).isoformat() for n in range((following - first).days))


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
    """Which buckets are still retained: days and months from the retention cutoff on, and the minutes
    of the last two hours (minutes only serve `last_60m`)."""

    first_day: str  # "dYYYY-MM-DD", the local day of the cutoff
    first_minute: int

    @classmethod
    def at(cls, now_us: int, retention_us: int, clock: BucketClock) -> Horizon:
        return cls(first_day=clock.day(now_us - retention_us), first_minute=(now_us - MINUTES_KEPT_US) // MINUTE_US)

    def keeps(self, bucket: str) -> bool:
        kind = bucket[0]
        if kind == "d":
            return bucket >= self.first_day
        if kind == "m":
            return int(bucket[1:]) >= self.first_minute
        if kind == "p":
            return bucket[1:] >= self.first_day[1:8]
        return True


def now_us() -> int:
    delta = datetime.now(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * MICRO + delta.microseconds

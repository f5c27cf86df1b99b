"""Simulated time, apart from the event model: epoch-millisecond conversions and the floor's local working
day (the time-of-day profiles that thin its processes, and the slip of reps' actions into business hours)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from streams.sim.config import FloorConfig

EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
HOUR: Final = 3_600_000
DAY: Final = 86_400_000
_BUCKET: Final = 900_000  # local-time lookups per quarter hour (every UTC offset is a multiple of it)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime, exactly (no float rounding)."""
    return (moment - EPOCH) // timedelta(milliseconds=1)


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat() + "T"


def iso_ms(ms: int) -> str:
    """RFC 3339 in UTC with milliseconds and `Z`, fast (the generator formats every event)."""
    day, rest = divmod(ms, DAY)
    hours, rest = divmod(rest, HOUR)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{_day_prefix(day)}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


class WorkingDay:
    """The floor's business hours in its time zone, with cached quarter-hour lookups; it draws from the
    floor's own random stream (so the event stream stays reproducible from the seed)."""

    def __init__(self, cfg: FloorConfig, zone: ZoneInfo, rng: random.Random) -> None:
        self.cfg = cfg
        self.zone = zone
        self.rng = rng
        self.local_cache: dict[int, tuple[int, int]] = {}
        self.work_start_cache: dict[int, int] = {}

    def local(self, at: int) -> tuple[int, int]:
        bucket = at // _BUCKET
        hit = self.local_cache.get(bucket)
        if hit is None:
            moment = datetime.fromtimestamp(bucket * (_BUCKET // 1000), self.zone)
            hit = self.local_cache[bucket] = (moment.weekday(), moment.hour)
        return hit

    def lead_profile(self, at: int) -> float:
        cfg = self.cfg
        if not cfg.diurnal:
            return 1.0
        weekday, hour = self.local(at)
        if weekday >= 5:
            return cfg.weekend_factor
        if cfg.business_hours[0] <= hour < cfg.business_hours[1]:
            return 1.0
        return min(1.0, 2 * cfg.night_factor) if cfg.business_hours[1] <= hour < 22 else cfg.night_factor

    def is_work(self, at: int) -> bool:
        if not self.cfg.diurnal:
            return True
        weekday, hour = self.local(at)
        return weekday < 5 and self.cfg.business_hours[0] <= hour < self.cfg.business_hours[1]

    def work_profile(self, at: int) -> float:
        if self.is_work(at):
            return 1.0
        weekday, hour = self.local(at)
        return 0.05 if weekday < 5 and hour < 21 else 0.01  # a few reps work late, almost nobody at night

    def next_open(self, at: int) -> int:
        """`at` in business hours, else the start of the next business quarter hour (no draw)."""
        if self.is_work(at):
            return at
        bucket = at // _BUCKET
        opens = self.work_start_cache.get(bucket)
        if opens is None:
            probe = bucket + 1
            while not self.is_work(probe * _BUCKET) and probe - bucket < 4 * 24 * 8:
                probe += 1
            opens = self.work_start_cache[bucket] = probe * _BUCKET
        return opens

    def work_time(self, at: int) -> int:
        """Reps mostly act in business hours: off-hours actions usually slip to the next morning."""
        if self.is_work(at) or self.rng.random() < 0.2:
            return at
        return self.next_open(at) + int(self.rng.uniform(0, 45 * 60_000))

    def is_working_day(self, at: int) -> bool:
        """A weekday (every day without day/night rhythm): the days that get daily targets."""
        return not self.cfg.diurnal or self.local(at)[0] < 5

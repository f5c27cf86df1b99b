"""Speed to lead, apart from the lead's life that it shapes: when a lead gets its first contact, and how much
likelier a lead answered fast is to convert (a lead first contacted within 5 minutes converts several times as
often as one first contacted after a day; `FloorConfig.speed_to_lead` is that ratio)."""

from __future__ import annotations

import math
import random
from bisect import bisect, bisect_left
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from streams.sim.catalog import SOURCE_CUM, SOURCES
from streams.sim.clock import HOUR, WorkingDay, to_ms
from streams.sim.config import FloorConfig

RESPONSE_BOUNDS_S: Final = (300, 3600, 86_400)  # SPEC §4's response buckets: le_5m, le_1h, le_24h, then gt_24h
SPEED_SIGMA: Final = 0.5  # reps' speeds: a lognormal factor on their response delays
NEGLECT_MEDIAN_MS: Final = 34 * HOUR  # a neglected lead waits a day or two before anyone works it
NEGLECT_SIGMA: Final = 0.45
CALLED_IN_SHARE: Final = 0.7  # of inbound_phone leads: the lead's own call is its first contact
_CALIBRATION_LEADS: Final = 12_000
_CALIBRATION_DAY: Final = date(2026, 1, 5)  # a Monday


def response_sigma(cfg: FloorConfig) -> float:
    """The spread of one rep's response delays: with the reps' speeds, the floor's median and p90 hold."""
    sigma = math.log(cfg.response_p90_s / cfg.response_median_s) / 1.2815515655446004
    return math.sqrt(max(sigma**2 - SPEED_SIGMA**2, 0.01))


def talk_seconds(rng: random.Random) -> int:
    """A connected call's length in seconds."""
    return min(86_400, max(5, int(240 * math.exp(rng.gauss(0.0, 0.8)))))


def first_contact(cfg: FloorConfig, day: WorkingDay, rng: random.Random, ready: int, speed: float) -> int:
    """When a rep first reaches a lead that became theirs at `ready`: mostly within minutes, a tail of hours
    (slipping to the next morning off hours), and `neglected_share` of leads left for a day or more."""
    neglected = rng.random() < cfg.neglected_share
    median = NEGLECT_MEDIAN_MS if neglected else cfg.response_median_s * 1000 * speed
    sigma = NEGLECT_SIGMA if neglected else response_sigma(cfg)
    return day.work_time(ready + max(1, int(median * math.exp(rng.gauss(0.0, sigma)))))


def response_factor(cfg: FloorConfig, response_ms: int) -> float:
    """A lead's conversion odds by its response time, before normalization: 1 within 5 minutes, then down by
    the same factor per bucket to 1/`speed_to_lead` after a day."""
    step = bisect_left(RESPONSE_BOUNDS_S, response_ms / 1000)
    return float(cfg.speed_to_lead ** (-step / len(RESPONSE_BOUNDS_S)))


def mean_response_factor(cfg: FloorConfig) -> float:
    """The floor's mean `response_factor` over its answered leads, so the effect leaves mean conversion as it
    is (like `mean_lift` for meetings); measured on the floor's own response model, from a fixed seed."""
    if cfg.speed_to_lead == 1.0:
        return 1.0
    monday = datetime.combine(_CALIBRATION_DAY, time(0), tzinfo=ZoneInfo(cfg.tz))
    probe = FloorConfig(  # only what shapes first contacts, so floors that differ otherwise share one calibration
        start=monday,
        end=monday + timedelta(days=7),
        tz=cfg.tz,
        diurnal=cfg.diurnal,
        business_hours=cfg.business_hours,
        night_factor=cfg.night_factor,
        weekend_factor=cfg.weekend_factor,
        response_median_s=cfg.response_median_s,
        response_p90_s=cfg.response_p90_s,
        unassigned_share=cfg.unassigned_share,
        neglected_share=cfg.neglected_share,
        speed_to_lead=cfg.speed_to_lead,
    )
    return _calibrated(probe)


@lru_cache(maxsize=64)
def _calibrated(cfg: FloorConfig) -> float:
    rng = random.Random(f"salesfloor:speed-to-lead:{cfg.seed}")  # noqa: S311 - simulation
    day = WorkingDay(cfg, ZoneInfo(cfg.tz), rng)
    start = to_ms(cfg.start.astimezone(timezone.utc))
    week = to_ms(cfg.end.astimezone(timezone.utc)) - start
    total = 0.0
    leads = 0
    while leads < _CALIBRATION_LEADS:
        created = start + rng.randrange(week)
        if rng.random() >= day.lead_profile(created):
            continue
        leads += 1
        source = SOURCES[bisect(SOURCE_CUM, rng.random())]
        if source == "inbound_phone" and rng.random() < CALLED_IN_SHARE:
            total += response_factor(cfg, talk_seconds(rng) * 1000)
            continue
        ready = created
        if rng.random() < cfg.unassigned_share:
            ready = day.work_time(created + max(1, int(15 * 60_000 * math.exp(rng.gauss(0.0, 1.0)))))
        speed = math.exp(rng.gauss(0.0, SPEED_SIGMA))
        total += response_factor(cfg, first_contact(cfg, day, rng, ready, speed) - created)
    return total / leads

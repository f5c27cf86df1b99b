"""The floor on the wall clock: the demo's around-the-clock floor scaled to a rate of events per second, and
`generate_realtime`, which emits each event when its time comes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Final

from streams.sim.clock import EPOCH, iso_ms, to_ms
from streams.sim.config import FloorConfig
from streams.sim.distort import EventDict
from streams.sim.simulator import generate

_CALIBRATION_START: Final = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday
_YIELD_EVERY: Final = 500


@lru_cache(maxsize=16)
def events_per_second(cfg: FloorConfig) -> float:
    """Average event rate of a floor at intensity 1 (measured on a simulated week, backlog excluded)."""
    days = 7 if cfg.diurnal else 1
    probe = replace(
        cfg,
        start=_CALIBRATION_START,
        intensity=1.0,
        backlog_days=0,
        max_events=None,
        end=_CALIBRATION_START + timedelta(days=days + 1),
    )
    warm_up = to_ms(_CALIBRATION_START + timedelta(days=1))
    counted = sum(1 for event in generate(probe) if event["occurred_at"] >= iso_ms(warm_up))
    return max(counted, 1) / (days * 86400)


def realtime_config(cfg: FloorConfig, rate: float | None) -> FloorConfig:
    """The demo's floor: around-the-clock activity scaled to `rate` events/s, sales cycles of hours.

    Real cycles of weeks would show no wins for days and need a pipeline backlog of millions of deals at
    demo rates, so cycles are compressed (median 2 h, backlog of one day), and so are meetings (booked for
    about 20 minutes later). Its reps work around the clock, so its teams send no calendars: every SLA clock is
    the wall clock, as every hour is a business hour.
    """
    live = replace(
        cfg,
        diurnal=False,
        calendars=False,
        cycle_median_days=min(cfg.cycle_median_days, 2 / 24),
        backlog_days=min(cfg.backlog_days, 1.0),
        meeting_lead_hours=min(cfg.meeting_lead_hours, 1 / 3),
    )
    if rate is not None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        live = replace(live, intensity=rate / events_per_second(replace(live, intensity=1.0)))
    return live


async def generate_realtime(
    cfg: FloorConfig,
    *,
    since: datetime | None = None,
    caught_up: Callable[[int], object] | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> AsyncGenerator[EventDict, None]:
    """The floor on the wall clock: emits each event when its time comes, until cancelled.

    `cfg.start`/`cfg.end` are replaced (start = `since`, else now; end = ten years on); pass a
    `realtime_config` or another around-the-clock floor. Events dated before now come at once: the backlog
    deals, and with `since` in the past the whole floor since then (a backfill), after which `caught_up` is
    called with their number; then events follow `occurred_at ≈ now`.
    """
    now = datetime.fromtimestamp(clock(), timezone.utc)
    live = replace(cfg, start=since or now, end=now + timedelta(days=3652))
    count = 0
    for event in generate(live):
        wait = _epoch_s(event["occurred_at"]) - clock()
        if wait > 0:
            if caught_up is not None:
                caught_up(count)
                caught_up = None
            await sleep(wait)
        elif count % _YIELD_EVERY == 0:
            await asyncio.sleep(0)  # a fast backfill still lets the loop run (signals, acks, progress)
        count += 1
        yield event


def _epoch_s(stamp: str) -> float:
    return (datetime.fromisoformat(stamp) - EPOCH).total_seconds()

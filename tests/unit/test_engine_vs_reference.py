"""The engine's KPI logic, driven in-process exactly as the agents drive it (events routed to entities
in hashed partitions, partial aggregates shipped as versioned snapshots, merged per team/rep), must
equal the independent reference computation over the same events, in any arrival order."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest

from agents.contributions import ALL, BucketClock, difference
from agents.entity_state import (
    SEP,
    PartialAggregates,
    apply_events,
    compact,
    contribution,
    entity_keys,
    entity_partition,
)
from agents.kpis import series_for
from agents.view import AggregateView
from streams import reference
from streams.errors import InvalidEvent
from streams.records import decode_event
from streams.simulator import FloorConfig, generate
from tests.kpi_compare import differences, key

PARTITIONS = 4


def run_engine(values: list[bytes], *, now: datetime, tz: str, sla_s: float = 300.0) -> dict[Any, float]:
    """The agents' dataflow without Kafka: same functions, same order of operations."""
    clock = BucketClock(ZoneInfo(tz))
    sla_us = int(sla_s * 1_000_000)
    now_us = reference.to_us(now)
    retention_us = 40 * 86400 * 1_000_000
    entities: dict[str, dict[str, Any]] = {}
    partials = {p: PartialAggregates() for p in range(PARTITIONS)}
    records: dict[tuple[str, str, str], dict[str, Any]] = {}
    view = AggregateView()

    def ship(version: int) -> None:
        for p, partial in partials.items():
            for team, rep, bucket in partial.take_dirty():
                record = records.setdefault((team, rep, bucket), {})
                record[str(p)] = [version, partial.snapshot((team, rep, bucket))]
                view.put(0, team, rep, bucket, record)

    for offset, raw in enumerate(values):
        try:
            event = compact(decode_event(raw))
        except InvalidEvent:
            continue
        if event["a"] < now_us - retention_us:
            continue
        for entity in entity_keys(event):
            partition = entity_partition(entity, PARTITIONS)
            state = entities.get(f"{partition}{SEP}{entity}")
            new_state, added = apply_events(state, (event,))
            if not added:
                continue
            entities[f"{partition}{SEP}{entity}"] = new_state
            old = contribution(entity, state["e"], clock, sla_us) if state else {}
            partials[partition].apply(difference(contribution(entity, new_state["e"], clock, sla_us), old))
        if offset % 997 == 0:
            ship(offset)
    ship(len(values))

    out: dict[Any, float] = {}
    keys = set(view.buckets) | {(ALL, ALL)}
    for team, rep in keys:
        for name, labels, value in series_for(team, rep, view.buckets.get((team, rep), {}), now_us=now_us,
                                               clock=clock):
            out[key(name, labels)] = value
    return out


def simulated(seed: int, start: datetime, end: datetime, tz: str) -> list[bytes]:
    config = FloorConfig(seed=seed, teams=3, reps_per_team=5, start=start, end=end, tz=tz)
    return [orjson.dumps(e) for e in generate(config)]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Warsaw", "America/New_York"])
def test_simulated_day_equals_reference_in_any_order(tz: str) -> None:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    start = now - timedelta(hours=30)  # always a whole business day, whatever the hour (10 h at night gave < 1,000)
    values = simulated(7, start, now - timedelta(seconds=5), tz)
    assert len(values) > 1000
    shuffled = values[:]
    random.Random(3).shuffle(shuffled)
    duplicated = shuffled + shuffled[: len(shuffled) // 10]
    want = reference.compute([orjson.loads(v) for v in duplicated], now=now, tz=tz)
    got = run_engine(duplicated, now=now, tz=tz)
    assert differences(got, want, age_tolerance=0.001) == []
    created = [want.get(key("salesfloor_leads_created", {"team": ALL, "rep": ALL, "window": w}), 0)
               for w in ("today", "month")]
    assert max(created) > 0  # not an empty comparison (just after midnight, today alone can be empty)


def test_dst_day_in_warsaw_equals_reference() -> None:
    now = datetime(2026, 10, 25, 22, 30, tzinfo=timezone.utc)  # 23:30 local on the 25-hour day
    start = datetime(2026, 10, 24, 22, 0, tzinfo=timezone.utc)  # 00:00 local
    values = simulated(11, start, now - timedelta(minutes=1), "Europe/Warsaw")
    want = reference.compute([orjson.loads(v) for v in values], now=now, tz="Europe/Warsaw")
    got = run_engine(values, now=now, tz="Europe/Warsaw")
    assert differences(got, want, age_tolerance=0.001) == []

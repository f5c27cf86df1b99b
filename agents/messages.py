"""The messages of the worker's two internal topics, typed: what ingest routes to the entity stage,
what the entity stage ships to the aggregate stage, and the control messages both read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from typing import Any, NotRequired, TypedDict, TypeGuard

from agents.kpis.model import BucketClock, CompactEvent
from agents.kpis.windows import Horizon

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# entity key, event, input topic, primary (the entity that counts the event for duplicates);
# JSON arrays on the wire
RoutedEvent = tuple[str, CompactEvent, str, bool]
# entity partition, its version (entity-topic offset), team, rep, bucket, fields
Snapshot = tuple[int, int, str, str, str, dict[str, int]]
NUDGE = "nudge"  # the key of a message that only shows the agent its next offset


class EntityBatch(TypedDict):
    b: list[RoutedEvent]


class SnapshotBatch(TypedDict):
    s: list[Snapshot]


class ExpiryRequest(TypedDict):
    """Drop what left the retention: entities idle since `cutoff` (µs, the local midnight starting the
    retention's first day), partial buckets before `day`/`minute`, time-of-day buckets before `pace_day`
    (both stages); and aggregates the history left: days before `history_day`, months before `history_month`."""

    cutoff: int
    day: str
    minute: int
    history_day: NotRequired[str]
    history_month: NotRequired[str]
    pace_day: NotRequired[str]


def expiry_request(now_us: int, retention_us: int, history_days: float, clock: BucketClock) -> ExpiryRequest:
    horizon = Horizon.at(now_us, retention_us, clock)
    history = Horizon.history(now_us, history_days, clock)
    midnight = datetime.combine(date.fromisoformat(horizon.first_day[1:]), time(), clock.zone)
    cutoff = round((midnight.astimezone(timezone.utc) - EPOCH).total_seconds() * 1_000_000)
    return {"cutoff": cutoff, "day": horizon.first_day, "minute": horizon.first_minute,
            "history_day": history.first_day, "history_month": history.first_month,
            "pace_day": horizon.first_pace_day}  # fmt: skip


def entity_horizon(request: ExpiryRequest) -> Horizon:
    return Horizon(request["day"], request["minute"], first_pace_day=request.get("pace_day", ""))


def history_horizon(request: ExpiryRequest) -> Horizon:
    """What the aggregates keep; a request of an older version names the retention only."""
    return Horizon(
        request.get("history_day", request["day"]),
        request["minute"],
        request.get("history_month", ""),
        request.get("pace_day", ""),
    )


def is_expiry(value: dict[str, Any]) -> TypeGuard[ExpiryRequest]:
    return "day" in value


def is_nudge(value: dict[str, Any]) -> bool:
    return NUDGE in value


def foreign_messages(topic: str) -> Callable[[int, int, dict[str, Any]], None]:
    """What a stage does with an internal message this version does not know (written by an older
    one): skip it, not fatal; logged once per partition."""
    seen: set[int] = set()

    def skip(partition: int, offset: int, value: dict[str, Any]) -> None:
        if partition not in seen:
            seen.add(partition)
            log.warning(
                "skipping messages of another version in %s[%d], the first at offset %d (keys %s)",
                topic,
                partition,
                offset,
                sorted(value)[:5],
            )

    return skip

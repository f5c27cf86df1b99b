"""Per-entity state (a lead, an email, a deal, a call, a target) and the partial aggregates that one
partition's entities add up to.

An entity's state is the set of its distinct events, so applying an event twice or out of order
cannot change the result; its contribution to the aggregates is recomputed from that set and the
aggregates move by the difference.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from agents.activity import add_calls, add_email
from agents.contributions import (
    AWAITING_SINCE,
    LIVE,
    BucketClock,
    CompactEvent,
    Contribution,
    ContributionBuilder,
)
from agents.leads import add_lead
from agents.revenue import add_deal, add_target
from streams.records import CallCompleted, DealEvent, Event, TargetSet, event_type

SEP = "\x1f"  # ids never contain control characters, so this separator cannot be forged
OLDEST_AWAITING = "ao"  # in shipped live snapshots: earliest creation (µs) among awaiting leads

AggregateKey = tuple[str, str, str]  # team, rep, bucket


def compact(event: Event) -> CompactEvent:
    """The few fields the KPIs need, with amounts and durations in exact integer micro-units."""
    out: CompactEvent = {
        "i": event.event_id, "y": event_type(event), "a": event.at_us,
        "T": event.team_id, "R": event.rep_id,
    }
    for name, short in (("lead_id", "L"), ("email_id", "E"), ("deal_id", "D"), ("call_id", "C")):
        value = getattr(event, name, None)
        if value is not None:
            out[short] = value
    if isinstance(event, CallCompleted):
        out["d"], out["o"], out["s"] = event.direction, event.outcome, round(event.duration_s * 1_000_000)
    elif isinstance(event, DealEvent):
        out["m"] = None if event.amount is None else round(event.amount * 1_000_000)
    elif isinstance(event, TargetSet):
        out["P"], out["v"] = event.period, round(event.value * 1_000_000)
    return out


def entity_keys(event: CompactEvent) -> list[str]:
    """The entities an event belongs to; the first one owns its event counts."""
    kind = event["y"]
    lead = event.get("L")
    if kind.startswith("lead."):
        return ["L" + lead]
    if kind == "call.completed":
        return ["L" + lead] if lead else ["C" + event["C"]]
    if kind.startswith("email."):
        keys = ["E" + event["E"]]
        return keys + ["L" + lead] if lead and kind == "email.sent" else keys
    if kind.startswith("deal."):
        keys = ["D" + event["D"]]
        return keys + ["L" + lead] if lead and kind == "deal.created" else keys
    return ["T" + SEP.join((event["T"], event["R"] or "", event["P"]))]


def contribution(key: str, events: list[CompactEvent], clock: BucketClock, sla_us: int) -> Contribution:
    """What the entity `key` with these events adds to the aggregates."""
    out = ContributionBuilder(clock)
    kind = key[0]
    if kind == "L":
        add_lead(out, events, sla_us)
    elif kind == "E":
        add_email(out, events)
    elif kind == "D":
        add_deal(out, events)
    elif kind == "C":
        add_calls(out, events)
    elif kind == "T":
        add_target(out, events)
    return out.out


def apply_events(state: dict[str, Any] | None, events: Iterable[CompactEvent]) -> tuple[dict[str, Any], set[str]]:
    """Add the events not seen before to an entity state; returns the state and the ids added."""
    stored: list[CompactEvent] = list(state["e"]) if state else []
    seen = {e["i"] for e in stored}
    added: set[str] = set()
    for event in events:
        if event["i"] not in seen:
            seen.add(event["i"])
            stored.append(event)
            added.add(event["i"])
    return {"e": stored}, added


def entity_partition(key: str, partitions: int) -> int:
    """The entity topic partition of an entity (CRC-32 in C: murmur2 in pure Python cost 2 % of CPU)."""
    return zlib.crc32(key.encode()) % partitions


@dataclass
class PartialAggregates:
    """The sum of the contributions of one partition's entities, and which buckets changed."""

    buckets: dict[AggregateKey, dict[str, int]] = field(default_factory=dict)
    dirty: set[AggregateKey] = field(default_factory=set)

    def apply(self, delta: Contribution) -> None:
        buckets = self.buckets
        for (team, rep, bucket, name), value in delta.items():
            key = (team, rep, bucket)
            fields = buckets.get(key)
            if fields is None:
                fields = buckets[key] = {}
            total = fields.get(name, 0) + value
            if total:
                fields[name] = total
            else:
                fields.pop(name, None)
            self.dirty.add(key)

    def snapshot(self, key: AggregateKey) -> dict[str, int]:
        """The fields shipped for a bucket: awaiting leads' creation times reduced to the oldest."""
        fields = self.buckets.get(key, {})
        if key[2] != LIVE:
            return dict(fields)
        out: dict[str, int] = {}
        oldest: int | None = None
        for name, value in fields.items():
            if name.startswith(AWAITING_SINCE):
                if value > 0:
                    created = int(name[len(AWAITING_SINCE):])
                    oldest = created if oldest is None else min(oldest, created)
            else:
                out[name] = value
        if oldest is not None:
            out[OLDEST_AWAITING] = oldest
        return out

    def take_dirty(self) -> list[AggregateKey]:
        dirty, self.dirty = self.dirty, set()
        return sorted(dirty)

    def expire(self, horizon: Horizon) -> int:
        """Drop expired buckets (they are not shipped again); returns how many."""
        expired = [key for key in self.buckets if not horizon.keeps(key[2])]
        for key in expired:
            del self.buckets[key]
            self.dirty.discard(key)
        return len(expired)


@dataclass(frozen=True)
class Horizon:
    """Which buckets are still retained: days and months from the retention cutoff on, and the minutes
    of the last two hours (minutes only serve `last_60m`)."""

    first_day: str  # "dYYYY-MM-DD", the local day of the cutoff
    first_minute: int

    @classmethod
    def at(cls, now_us: int, retention_us: int, clock: BucketClock) -> Horizon:
        return cls(first_day=clock.day(now_us - retention_us), first_minute=(now_us - 7_200_000_000) // 60_000_000)

    def keeps(self, bucket: str) -> bool:
        kind = bucket[0]
        if kind == "d":
            return bucket >= self.first_day
        if kind == "m":
            return int(bucket[1:]) >= self.first_minute
        if kind == "p":
            return bucket[1:] >= self.first_day[1:8]
        return True


def expired_entity(key: str, events: list[CompactEvent], cutoff_us: int, clock: BucketClock, sla_us: int) -> bool:
    """An entity idle since before the cutoff that adds nothing to a live gauge can be forgotten."""
    if max(event["a"] for event in events) >= cutoff_us:
        return False
    return not any(k[2] == LIVE for k in contribution(key, events, clock, sla_us))

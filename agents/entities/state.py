"""Per-entity state (a lead, an email, a deal, a call, a target) and the partial aggregates that one
partition's entities add up to.

An entity's state is the set of its distinct events, so applying an event twice or out of order
cannot change the result; its contribution to the aggregates is recomputed from that set and the
aggregates move by the difference.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from sys import intern
from typing import Final, Literal, TypedDict
from zoneinfo import ZoneInfo

import orjson
import ormsgpack

from agents.heaps import TimeHeap
from agents.kpis.business_time import Calendar, TeamClock
from agents.kpis.model import ALL, LIVE, CompactEvent, Contribution
from agents.kpis.response import OLDEST_AWAITING, OLDEST_OF
from agents.kpis.series import Kpis
from agents.kpis.windows import Horizon
from agents.routing import SEP, entity_partition
from streams.records import (
    CalendarSet,
    CallCompleted,
    DealEvent,
    Event,
    LeadCreated,
    MeetingEvent,
    TargetSet,
    event_type,
)

AggregateKey = tuple[str, str, str]  # team, rep, bucket
# the id fields `compact` copies, with the CompactEvent keys they go to
_ID_FIELDS: Final[tuple[tuple[str, Literal["E", "D", "C", "M"]], ...]] = (
    ("email_id", "E"),
    ("deal_id", "D"),
    ("call_id", "C"),
    ("meeting_id", "M"),
)


def compact(event: Event) -> CompactEvent:
    """The few fields the KPIs need, with amounts and durations in exact integer micro-units."""
    out: CompactEvent = {
        "i": event.event_id,
        "y": event_type(event),
        "a": event.at_us,
        "T": event.team_id,
        "R": event.rep_id,
    }
    lead = getattr(event, "lead_id", None)
    if lead is not None:
        out["L"] = lead
    for name, short in _ID_FIELDS:
        value = getattr(event, name, None)
        if value is not None:
            out[short] = value
    if isinstance(event, LeadCreated):
        if event.source is not None:
            out["u"] = event.source
    elif isinstance(event, CallCompleted):
        out["d"], out["o"], out["s"] = event.direction, event.outcome, round(event.duration_s * 1_000_000)
    elif isinstance(event, DealEvent):
        out["m"] = None if event.amount is None else round(event.amount * 1_000_000)
        if event.stage is not None:
            out["S"] = event.stage
    elif isinstance(event, MeetingEvent):
        if event.outcome is not None:
            out["o"] = event.outcome
    elif isinstance(event, CalendarSet):
        out["z"] = [event.timezone, event.hours, sorted(day.isoformat() for day in event.holidays)]
    elif isinstance(event, TargetSet):
        out["P"], out["K"], out["v"] = event.period, event.metric, round(event.value * 1_000_000)
    return out


CALENDARS = "Z"  # the entity kind of a team's calendars


def team_clock(events: list[CompactEvent]) -> TeamClock:
    """A team's SLA clock from its `calendar.set` events (of equal stamps, the greatest event id wins)."""
    changes = []
    for event in sorted(events, key=lambda e: (e["a"], e["i"])):
        zone, hours, holidays = event["z"]
        week = tuple(tuple((start, end) for start, end in day) for day in hours)
        changes.append((event["a"], Calendar(ZoneInfo(zone), week, frozenset(map(date.fromisoformat, holidays)))))
    return TeamClock.of(changes)


def is_broadcast(key: str) -> bool:
    """A team's calendars go to every entity partition: any lead's KPIs may need them."""
    return key[0] == CALENDARS


def routes(event: CompactEvent, partitions: int) -> Iterator[tuple[int, str, bool]]:
    """Where ingest sends an event: (entity partition, entity key, primary copy) for each of its entities;
    the primary copy of its first entity counts the event (a duplicate is counted once)."""
    for n, key in enumerate(entity_keys(event)):
        if is_broadcast(key):
            for partition in range(partitions):
                yield partition, key, n == 0 and partition == 0
        else:
            yield entity_partition(key, partitions), key, n == 0


def ages_out(kind: str) -> bool:
    """Whether an event older than the retention is late and dropped: all are but a calendar, which stays
    in force until the next (SPEC §4 "Business time")."""
    return kind != "calendar.set"


_DEAL_ON_LEAD = frozenset({"deal.created", "deal.won"})  # a conversion; a win's amount by the lead's source


def entity_keys(event: CompactEvent) -> list[str]:
    """The entities an event belongs to; the first one owns its event counts."""
    kind = event["y"]
    lead = event.get("L")
    if kind.startswith("lead."):
        return ["L" + event["L"]]  # a lead event always has its lead
    if kind == "call.completed":
        return ["L" + lead] if lead else ["C" + event["C"]]
    if kind.startswith("email."):
        keys = ["E" + event["E"]]
        return keys + ["L" + lead] if lead and kind == "email.sent" else keys
    if kind.startswith("deal."):
        keys = ["D" + event["D"]]
        return keys + ["L" + lead] if lead and kind in _DEAL_ON_LEAD else keys
    if kind.startswith("meeting."):  # a completed meeting with a lead may be a contact of it
        keys = ["M" + event["M"]]
        return keys + ["L" + lead] if lead and kind == "meeting.completed" else keys
    if kind == "calendar.set":  # every entity partition keeps every team's calendars (`is_broadcast`)
        return ["Z" + event["T"]]
    return ["T" + SEP.join((event["T"], event["R"] or "", event["P"], event.get("K", "won_amount")))]


class EntityState(TypedDict, total=False):
    """What the entity table stores per entity (`encode_state`): its distinct events, and its partition's
    version when it last changed (the highest entity-topic offset applied then: a message read back after
    later ones changes it at the later version, which its partition's partials were shipped with)."""

    e: list[CompactEvent]
    o: int


def encode_state(state: EntityState) -> bytes:
    """MessagePack: a waiting lead's state is ~140 bytes where JSON took ~180, and it decodes faster. The
    entity table (and its changelog) holds these bytes for every entity of the retention."""
    return ormsgpack.packb(state)


def decode_state(stored: bytes) -> EntityState:
    """A stored state; JSON (`{`) as entity states were stored before 2026-12-07, read from a changelog
    written then."""
    if stored[:1] == b"{":
        return orjson.loads(stored)  # type: ignore[no-any-return]
    return ormsgpack.unpackb(stored)  # type: ignore[no-any-return]


def apply_events(state: EntityState | None, events: Iterable[CompactEvent]) -> tuple[EntityState, set[str]]:
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


class AwaitingTimes:
    """The creation times (µs) of one bucket's awaiting leads, as a multiset whose minimum is read at
    every ship: a min-heap of 64-bit times (16 bytes a lead, `TimeHeap`), removals set aside until they
    reach the top or are half the heap, so both the change and the oldest are O(log n) amortized."""

    __slots__ = ("heap", "removed", "stale")

    def __init__(self) -> None:
        self.heap: TimeHeap[str] = TimeHeap()
        self.removed: dict[int, int] = {}  # time -> removals still in the heap (or below zero)
        self.stale = 0  # removals since the heap was last rebuilt

    def add(self, created_us: int, count: int) -> None:
        """Move the count of one creation time (a lead's contribution is +1 or -1)."""
        removed = self.removed
        if count < 0:
            removed[created_us] = removed.get(created_us, 0) - count
            self.stale -= count
            if self.stale > 16 and 2 * self.stale > len(self.heap):
                self._rebuild()
            return
        pending = removed.pop(created_us, 0)
        if pending > count:
            removed[created_us] = pending - count
        for _ in range(count - pending):
            self.heap.push(created_us, "")

    def oldest(self) -> int | None:
        heap, removed = self.heap, self.removed
        times = heap.times
        while times:
            first = times[0]
            pending = removed.get(first)
            if not pending:
                return first
            if pending == 1:
                del removed[first]
            else:
                removed[first] = pending - 1
            heap.pop()
        return None

    def _rebuild(self) -> None:
        removed = self.removed
        kept: list[int] = []
        for created_us in self.heap.times:
            pending = removed.get(created_us)
            if not pending:
                kept.append(created_us)
            elif pending == 1:
                del removed[created_us]
            else:
                removed[created_us] = pending - 1
        self.heap, self.stale = TimeHeap.of_sorted(sorted(kept), ""), 0


@dataclass
class PartialAggregates:
    """The sum of the contributions of one partition's entities, and which buckets changed."""

    buckets: dict[AggregateKey, dict[str, int]] = field(default_factory=dict)
    awaiting: dict[AggregateKey, AwaitingTimes] = field(default_factory=dict)
    dirty: set[AggregateKey] = field(default_factory=set)
    frozen_before: str = ""  # YYYY-MM-DD: buckets of earlier days (and months) are no longer moved

    def apply(self, delta: Contribution) -> None:
        """Move the buckets by a contribution's difference, except frozen ones: a day before the
        retention is kept by the aggregates (for the history) as it was when the day left it, and a
        cohort change there (a late contact of an old lead) no longer counts (SPEC §4: "as long as the
        cohort's window is retained"). Were it shipped, this partition's snapshot of that bucket would
        hold only the change."""
        buckets, dirty = self.buckets, self.dirty
        moving: dict[str, bool] = {}  # bucket -> not frozen, decided once per bucket name
        for (team, rep, bucket, name), value in delta.items():
            if not value:  # a sum whose changes cancel out
                continue
            moves = moving.get(bucket)
            if moves is None:
                moves = moving[bucket] = not self.frozen(bucket)
            if not moves:
                continue
            key = (team, rep, bucket)
            dirty.add(key)
            if isinstance(name, int):
                self._apply_awaiting(key, name, value)
                continue
            fields = buckets.get(key)
            if fields is None:  # a bucket kept for hours: its names shared, not a copy per bucket
                fields = buckets[intern(team), intern(rep), intern(bucket)] = {}
            total = fields.get(name, 0) + value
            if total:
                fields[name] = total
            else:
                fields.pop(name, None)

    def frozen(self, bucket: str) -> bool:
        """A day (or month) before `frozen_before`; minute and live buckets never freeze."""
        frozen = self.frozen_before
        return bool(frozen) and bucket[1:11] < frozen and bucket[0] != "m" and bucket != LIVE

    def mark_changed(self, keys: Iterable[AggregateKey]) -> None:
        """Ship these buckets at the next ship, as they are now (empty if none), unless frozen."""
        self.dirty.update(key for key in keys if not self.frozen(key[2]))

    def _apply_awaiting(self, key: AggregateKey, created_us: int, count: int) -> None:
        """A team's awaiting creation times; the floor's oldest is its teams' oldest (`snapshot`), so the
        floor keeps no multiset of its own (its key is still marked dirty by the change)."""
        if key[0] == ALL:
            return
        times = self.awaiting.get(key)
        if times is None:
            times = self.awaiting[key] = AwaitingTimes()
        times.add(created_us, count)
        if times.oldest() is None and not times.removed:
            del self.awaiting[key]

    def snapshot(self, key: AggregateKey) -> dict[str, int]:
        """The fields shipped for a bucket, with the oldest awaiting lead's creation time in live ones; the
        floor's has each team's too, so its oldest lead's team (and clock) is known."""
        out = dict(self.buckets.get(key, {}))
        if key[0] != ALL:
            times = self.awaiting.get(key)
            oldest = None if times is None else times.oldest()
        elif key[2] == LIVE:
            oldest = None
            for (team, _rep, _bucket), team_times in self.awaiting.items():  # team live buckets only
                team_oldest = team_times.oldest()
                if team_oldest is not None:
                    out[OLDEST_OF + team] = team_oldest
                    oldest = team_oldest if oldest is None else min(oldest, team_oldest)
        else:
            oldest = None
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
            self.awaiting.pop(key, None)
            self.dirty.discard(key)
        return len(expired)


def expired_entity(key: str, events: list[CompactEvent], cutoff_us: int, kpis: Kpis) -> bool:
    """An entity idle since before the cutoff that adds nothing to a live gauge can be forgotten (a team's
    calendars never are: the one in force may be years old)."""
    if key[0] == CALENDARS or max(event["a"] for event in events) >= cutoff_us:
        return False
    return not any(k[2] == LIVE for k in kpis.contribution(key, events))

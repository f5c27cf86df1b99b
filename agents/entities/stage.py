"""The entity stage: applies routed events to their entities' state, and keeps each partition's
partial aggregates (the sum of its entities' contributions) moving by each entity's change.

It holds no Faust object: the pipeline feeds it messages and has it `ship` what `outgoing` returns
through the aggregate topic's `send_soon`, and the engine-versus-reference test drives it the same way
without a broker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterator
from typing import Any

from agents.entities.state import (
    CALENDARS,
    EntityState,
    PartialAggregates,
    apply_events,
    decode_state,
    encode_state,
    expired_entity,
    team_clock,
)
from agents.kpis.business_time import TeamClock
from agents.kpis.model import CompactEvent, Contribution, difference
from agents.kpis.series import Kpis
from agents.kpis.windows import Horizon
from agents.messages import RoutedEvent, Snapshot, entity_horizon, is_expiry, is_nudge
from agents.routing import SEP, aggregate_partition
from streams.kafka.buffered import StateTable

log = logging.getLogger(__name__)

SHIP_CHUNK = 1000  # snapshots per shipped message, well under Kafka's 1 MB message limit

# partition, table key, a lead's events now and before the change (None: new here, or rebuilt)
Watch = Callable[[int, str, list[CompactEvent], list[CompactEvent] | None], None]
Send = Callable[..., asyncio.Future[Any]]  # a Faust topic's `send_soon(key=, value=, partition=)`


class EntityStage:
    def __init__(
        self,
        table: StateTable,
        kpis: Kpis,
        *,
        on_duplicate: Callable[[str], None],
        watch: Watch,
        foreign: Callable[[int, int, dict[str, Any]], None],
        on_calendars: Callable[[int], None] = lambda _partition: None,
    ) -> None:
        self.table = table
        self.kpis = kpis
        self.on_duplicate = on_duplicate  # an input topic's duplicate event
        self.watch = watch  # a lead changed: the alerts decide whether it waits
        self.foreign = foreign  # a message of another version
        self.on_calendars = on_calendars  # a partition's calendars changed: the alerts recheck their waits
        self.partials: dict[int, PartialAggregates] = {}
        self.clocks: dict[int, dict[str, TeamClock]] = {}  # partition -> team -> SLA clock (its Z entities)
        self.frozen_before = ""  # see `freeze`
        self.versions: dict[int, int] = {}  # partition -> offset of the last message applied

    def apply(self, partition: int, offset: int, value: dict[str, Any]) -> None:
        """One entity-topic message: move the partition's partial aggregates by each entity's change."""
        version = self.versions.get(partition, -1)
        if offset > version:
            # Never backwards: after a rebalance Faust replays from the committed offset, below the
            # version the rebuilt partials were shipped with. A replayed message may complete a bucket
            # (state the old owner had not written), and a snapshot with a lower version than the
            # rebuilt one would be ignored by the aggregates.
            version = self.versions[partition] = offset
        batch: list[RoutedEvent] | None = value.get("b")
        if batch is None:
            if is_expiry(value):
                self.expire(partition, entity_horizon(value), value["cutoff"])
            elif not is_nudge(value):
                self.foreign(partition, offset, value)
            return
        by_entity: dict[str, list[RoutedEvent]] = {}
        for item in batch:
            by_entity.setdefault(item[0], []).append(item)
        data, table, contribution = self.table.data, self.table, self.kpis.contribution
        partial, clocks = self.partial(partition), self.clocks.setdefault(partition, {})
        # The batch's entities' changes, summed and then applied once: most keys are a team's or the floor's,
        # shared by many entities. Applying is a sum, so the order does not matter (a calendar's
        # re-evaluation applies its own change meanwhile).
        summed: Contribution = {}
        for key, items in by_entity.items():
            table_key = f"{partition}{SEP}{key}"
            stored = data.get(table_key)
            state: EntityState | None
            new_state: EntityState
            if stored is None and len(items) == 1:  # most: a new entity's first event, nothing to deduplicate
                state, new_state = None, {"e": [items[0][1]], "o": version}
            else:
                state = None if stored is None else decode_state(stored)
                new_state, added = apply_events(state, (item[1] for item in items))
                self._count_duplicates(items, added)
                if not added:
                    continue
                new_state["o"] = version
            table.put(table_key, partition, encode_state(new_state))
            if key[0] == CALENDARS:
                self._calendars_changed(partition, key[1:], new_state["e"])
                continue
            contribution(key, new_state["e"], clocks, summed)
            if state:
                get = summed.get
                for field, old in contribution(key, state["e"], clocks).items():
                    summed[field] = get(field, 0) - old
            if key[0] == "L":
                self.watch(partition, table_key, new_state["e"], state["e"] if state else None)
        partial.apply(summed)

    def _calendars_changed(self, partition: int, team: str, events: list[CompactEvent]) -> None:
        """A team's calendars changed: every lead of the team in this partition moves from its contribution
        on the old clock to the one on the new (SPEC §4: a late `calendar.set` re-evaluates what it covers),
        and the alerts recheck the deadlines they put off by the old one (`on_calendars`)."""
        old_clocks = dict(self.clocks.setdefault(partition, {}))
        new_clocks = self.clocks[partition]
        new_clocks[team] = team_clock(events)
        partial, contribution, prefix = self.partial(partition), self.kpis.contribution, f"{partition}{SEP}L"
        moved = 0
        for table_key, stored in self.table.data.items():
            if not table_key.startswith(prefix):
                continue
            lead_events = decode_state(stored)["e"]
            if not any(e["y"] == "lead.created" and e["T"] == team for e in lead_events):
                continue
            key = table_key[len(prefix) - 1 :]
            partial.apply(
                difference(contribution(key, lead_events, new_clocks), contribution(key, lead_events, old_clocks))
            )
            moved += 1
        self.on_calendars(partition)
        log.info("calendar of team %s changed: %d leads of partition %d re-evaluated", team, moved, partition)

    def clocks_now(self) -> dict[str, TeamClock]:
        """The teams' SLA clocks (every entity partition holds every team's calendars: any assigned one)."""
        merged: dict[str, TeamClock] = {}
        for clocks in self.clocks.values():
            for team, clock in clocks.items():
                current = merged.get(team)
                if current is None or len(clock.changes) > len(current.changes):
                    merged[team] = clock
        return merged

    def _count_duplicates(self, items: list[RoutedEvent], added: set[str]) -> None:
        """A primary copy whose id was not added, or was added by an earlier copy, is a duplicate."""
        fresh = set(added)
        for _key, event, topic, primary in items:
            if primary:
                if event["i"] in fresh:
                    fresh.discard(event["i"])
                else:
                    self.on_duplicate(topic)

    def expire(self, partition: int, horizon: Horizon, cutoff_us: int) -> None:
        """Forget entities idle past the retention (unless live) and the partial buckets that expired."""
        table, prefix = self.table, f"{partition}{SEP}"
        forgotten = 0
        for table_key, stored in [(k, v) for k, v in table.data.items() if k.startswith(prefix)]:
            events = decode_state(stored)["e"]
            if expired_entity(table_key[len(prefix) :], events, cutoff_us, self.kpis):
                table.delete(table_key, partition)
                forgotten += 1
        buckets = self.partial(partition).expire(horizon)
        if forgotten or buckets:
            log.info("expired %d entities and %d partial buckets of partition %d", forgotten, buckets, partition)

    def partial(self, partition: int) -> PartialAggregates:
        partial = self.partials.get(partition)
        if partial is None:
            partial = self.partials[partition] = PartialAggregates(frozen_before=self.frozen_before)
        return partial

    def advance(self, now_us: int, retention_us: int) -> None:
        """On the wall clock: minute buckets past two hours and time-of-day ones before yesterday are no
        longer computed, days before the retention no longer move."""
        clock = self.kpis.clock
        horizon = Horizon.at(now_us, retention_us, clock)
        clock.first_minute, clock.first_pace_day = horizon.first_minute, horizon.first_pace_day
        self.freeze(horizon)

    def freeze(self, horizon: Horizon) -> None:
        """Days before the retention's first day change no more (`PartialAggregates.apply`)."""
        self.frozen_before = horizon.frozen_before()
        for partial in self.partials.values():
            partial.frozen_before = self.frozen_before

    def rebuild(self, assigned: set[int]) -> None:
        """After recovery, derive each assigned partition's partial aggregates (and which leads wait)
        from its entities: their contributions summed key by key, then applied once (entity by entity,
        `PartialAggregates.apply` was 38 % of the rebuild's profile; summed first, the rebuild of 250,000
        entities takes about a tenth less).

        A bucket changed here and not yet shipped is shipped still: a rebalance rebuilds the partitions it
        keeps too, and a bucket a change emptied is not rebuilt at all, so it would never be shipped again
        (seen in the crash test: a lead assigned just before a takeover stayed in `_unassigned`'s
        `leads_awaiting_response` for good). It goes out with the version of its entities' last change,
        which is past every snapshot of it shipped before that change."""
        rebuilt = {p: PartialAggregates(frozen_before=self.frozen_before) for p in assigned}
        sums: dict[int, Contribution] = {p: {} for p in assigned}
        versions: dict[int, int] = {}
        contribution = self.kpis.contribution
        clocks: dict[int, dict[str, TeamClock]] = {p: {} for p in assigned}
        numbered = {str(p): p for p in assigned}  # the keys' partition text -> partition, without int()
        for table_key, stored in self.table.data.items():  # the calendars first: leads' KPIs depend on them
            partition_text, _, key = table_key.partition(SEP)
            if key[0] == CALENDARS and partition_text in numbered:
                clocks[numbered[partition_text]][key[1:]] = team_clock(decode_state(stored)["e"])
        self.clocks = clocks
        for table_key, stored in self.table.data.items():
            partition_text, _, key = table_key.partition(SEP)
            partition = numbered.get(partition_text)
            if partition is None:
                continue
            state: EntityState = decode_state(stored)
            versions[partition] = max(versions.get(partition, -1), state.get("o", -1))
            if key[0] == CALENDARS:
                continue
            contribution(key, state["e"], clocks[partition], sums[partition])  # added straight into the sum
            if key[0] == "L":
                self.watch(partition, table_key, state["e"], None)
        for partition, summed in sums.items():
            rebuilt[partition].apply(summed)  # zero sums are skipped there
            previous = self.partials.get(partition)
            if previous is not None:
                rebuilt[partition].mark_changed(previous.dirty)
        self.partials = rebuilt
        self.versions = versions
        log.info("rebuilt partial aggregates of entity partitions %s", sorted(rebuilt))

    def outgoing(self, assigned: set[int], partitions: int) -> dict[int, list[Snapshot]]:
        """Each changed partial bucket, versioned by offset, by the aggregate partition of its team/rep;
        partitions no longer assigned are dropped."""
        outgoing: dict[int, list[Snapshot]] = {}
        for partition in list(self.partials):
            if partition not in assigned:
                del self.partials[partition]
                continue
            partial = self.partials[partition]
            version = self.versions.get(partition)
            if version is None:
                continue
            for team, rep, bucket in partial.take_dirty():
                snapshot = (partition, version, team, rep, bucket, partial.snapshot((team, rep, bucket)))
                outgoing.setdefault(aggregate_partition(team, rep, partitions), []).append(snapshot)
        return outgoing

    def ship(self, assigned: set[int], partitions: int, send: Send) -> list[asyncio.Future[Any]]:
        """`outgoing`, sent in messages of at most SHIP_CHUNK snapshots (`send` is the aggregate topic's
        `send_soon`); the buckets of a message that is not delivered go out again at the next ship, as
        they are then (their dirty marks were taken: they would wait for their next change)."""
        sent = []
        for target, snapshots in chunks(self.outgoing(assigned, partitions)):
            future = send(key=None, value={"s": snapshots}, partition=target)
            future.add_done_callback(functools.partial(self._delivered, snapshots))
            sent.append(future)
        return sent

    def _delivered(self, snapshots: list[Snapshot], future: asyncio.Future[Any]) -> None:
        if not future.cancelled() and future.exception() is None:
            return
        log.warning("%d shipped snapshots were not delivered; their buckets go out again", len(snapshots))
        for partition, _version, team, rep, bucket, _fields in snapshots:
            partial = self.partials.get(partition)
            if partial is not None:
                partial.mark_changed([(team, rep, bucket)])


def chunks(outgoing: dict[int, list[Snapshot]], size: int = SHIP_CHUNK) -> Iterator[tuple[int, list[Snapshot]]]:
    """`outgoing`'s snapshots as messages of at most `size`, each with its aggregate partition."""
    for target, snapshots in outgoing.items():
        for start in range(0, len(snapshots), size):
            yield target, snapshots[start : start + size]


def entity_key_partition(key: str) -> int:
    """Entity table keys start with their entity partition."""
    return int(key.partition(SEP)[0])

"""The aggregate stage: keeps, per team/rep bucket, the newest snapshot from each entity partition,
and the merged view that /metrics, the API and the wallboard read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from agents.aggregates.view import AggregateView
from agents.kpis.windows import Horizon
from agents.messages import Snapshot, history_horizon, is_expiry, is_nudge
from agents.routing import SEP
from streams.kafka.buffered import StateTable
from streams.settings import MAX_PARTITIONS

log = logging.getLogger(__name__)

# entity partition (text) -> (version, fields); a list once read back from the changelog
AggregateRecord = dict[str, tuple[int, dict[str, int]] | list[Any]]
SOURCE_NAMES = tuple(str(partition) for partition in range(MAX_PARTITIONS))  # one string each, not one a record


class AggregateStage:
    def __init__(
        self, table: StateTable, view: AggregateView, foreign: Callable[[int, int, dict[str, Any]], None]
    ) -> None:
        self.table = table
        self.view = view
        self.foreign = foreign
        self.applied: dict[int, int] = {}  # partition -> offset of the last message applied

    def apply(self, partition: int, offset: int, value: dict[str, Any]) -> None:
        """Snapshots are idempotent by version: an older one than the bucket holds is ignored."""
        if offset > self.applied.get(partition, -1):
            self.applied[partition] = offset
        snapshots: list[Snapshot] | None = value.get("s")
        if snapshots is None:
            if is_expiry(value):
                self.expire(partition, history_horizon(value))
            elif not is_nudge(value):
                self.foreign(partition, offset, value)
            return
        table, data, view = self.table, self.table.data, self.view
        versions: dict[int, int] = {}  # one int object per version, shared by the records it updates
        for source_partition, version, team, rep, bucket, fields in snapshots:
            table_key = SEP.join((team, rep, bucket))
            record: AggregateRecord = data.get(table_key) or {}
            source = SOURCE_NAMES[source_partition]
            current = record.get(source)
            if current is not None and current[0] > version:
                continue
            record = {**record, source: (versions.setdefault(version, version), fields)}
            table.put(table_key, partition, record)
            view.change(partition, team, rep, bucket, record, None if current is None else current[1], fields)

    async def restored(self, event: Any) -> None:
        """A record of Faust's tail recovery (a `faust.EventT`). A key changed here and not yet written
        keeps its newer value, in the view as in the store (`BulkRestoredStore.apply_changelog_batch`)."""
        if event.key not in self.table.dirty:
            self.view.apply(event.message.partition, str(event.key), event.value)

    def expire(self, partition: int, horizon: Horizon) -> None:
        """Drop what the history no longer keeps; a day leaving it is first folded into its month's
        rollup (`M<YYYY-MM>`, read by the month window), once: the rollup names the days it holds."""
        table, data, view, expired = self.table, self.table.data, self.view, 0
        for (team, rep), buckets in list(view.buckets.items()):
            if view.partition_of.get((team, rep)) != partition:
                continue
            for bucket in [b for b in buckets if not horizon.keeps(b)]:
                if bucket[0] == "d" and horizon.keeps("M" + bucket[1:8]):
                    self._fold(partition, team, rep, bucket, buckets[bucket])
                table_key = SEP.join((team, rep, bucket))
                if data.get(table_key) is not None:
                    table.delete(table_key, partition)
                del buckets[bucket]
                expired += 1
        if expired:
            log.info("expired %d aggregate buckets of partition %d", expired, partition)

    def _fold(self, partition: int, team: str, rep: str, day: str, fields: dict[str, int]) -> None:
        month = "M" + day[1:8]
        table_key = SEP.join((team, rep, month))
        rollup = self.table.data.get(table_key) or {ROLLUP: [0, {}, []]}
        _version, summed, days = rollup[ROLLUP]
        if day in days:
            return  # folded before a crash that kept the day
        summed = dict(summed)
        for name, value in fields.items():
            summed[name] = summed.get(name, 0) + value
        record = {ROLLUP: [0, summed, sorted([*days, day])]}
        self.table.put(table_key, partition, record)
        self.view.put(partition, team, rep, month, record)


ROLLUP = "rollup"  # the source name of a month rollup's record: [0, fields, days folded in]

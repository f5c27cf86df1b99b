"""An in-memory table store that restores a newly assigned partition by reading its changelog in bulk.

Faust restores a memory store record by record through its consumer (one Event, queue hand-off and
callback each): ~16,000 records/s here, a minute and a half for a day of a big floor. This store does
that first read itself, when Faust tells the tables about a rebalance (before its own recovery
starts): a plain aiokafka consumer reads each newly assigned changelog partition from its start to its
end in large fetches, and `persisted_offset` then tells Faust's recovery where that read ended, so Faust
reads only what was written after it (normally nothing) and keeps its usual guarantees: streams stay
paused until the table is recovered.

Keys of partitions revoked from this worker are dropped (another worker owns them now; a later
assignment reads them again), and a tail applied by Faust's recovery never overwrites a key this
worker changed and has not yet written to the changelog (see buffered.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from faust.stores.memory import Store
from faust.types import TP, EventT

from streams.errors import ChangelogTruncated
from streams.kafka.internals import install_store
from streams.kafka.read_to_end import read_to_end

log = logging.getLogger(__name__)

FETCH_BYTES = 16 * 1024 * 1024


class BulkRestoredStore(Store[Any, Any]):
    """`faust.stores.memory.Store` restored in bulk; install with `BulkRestoredStore.attach(table, ...)`."""

    partition_of: Callable[[str], int]
    decode_value: Callable[[bytes], Any]
    on_restored: Callable[[int, str, Any], None] | None
    on_dropped: Callable[[set[int]], None] | None  # partitions whose keys were dropped or are about to be restored
    consumer_kwargs: dict[str, Any]
    dirty: Callable[[], Any]
    restored: dict[int, int | None]  # partition -> last changelog offset read in bulk

    @classmethod
    def attach(
        cls,
        table: Any,
        *,
        partition_of: Callable[[str], int],
        decode_value: Callable[[bytes], Any],
        consumer_kwargs: dict[str, Any],
        dirty: Callable[[], Any],
        on_restored: Callable[[int, str, Any], None] | None = None,
        on_dropped: Callable[[set[int]], None] | None = None,
    ) -> BulkRestoredStore:
        store = cls(url="memory://", app=table.app, table=table)
        store.partition_of = partition_of
        store.decode_value = decode_value
        store.on_restored = on_restored
        store.on_dropped = on_dropped
        store.consumer_kwargs = consumer_kwargs
        store.dirty = dirty
        store.restored = {}
        install_store(table, store)
        return store

    def persisted_offset(self, tp: TP) -> int | None:
        return self.restored.get(tp.partition)

    def written(self, partition: int, offset: int) -> None:
        """This worker's changelog records of a partition it owns are in, up to `offset`: the store holds
        them, so a later recovery of the partition (kept over a rebalance) starts after them. Faust's own
        tables do the same as they send (`Table.on_changelog_sent`); without it, every rebalance read back
        all this worker had written since the partition was assigned (1.2 s of a takeover in the
        achievements test, and once that read hung for a minute with nothing fetched)."""
        if partition in self.restored and offset >= 0:
            known = self.restored[partition]
            self.restored[partition] = offset if known is None else max(offset, known)

    async def on_rebalance(
        self, assigned: set[TP], revoked: set[TP], newly_assigned: set[TP], generation_id: int = 0
    ) -> None:
        topic = self.table.changelog_topic.get_topic_name()
        active = {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == topic}
        new = sorted(active - set(self.restored))
        dirty = self.dirty()
        for key in [k for k, p in dirty.items() if p not in active or p in new]:
            del dirty[key]  # not ours any more, or about to be read from the changelog again
        gone = set(self.restored) - active
        if gone:
            dropped = [key for key in self.data if self.partition_of(key) in gone]
            for key in dropped:
                del self.data[key]
            for partition in gone:
                del self.restored[partition]
            log.info("%s: dropped %d keys of partitions %s, now owned elsewhere", topic, len(dropped), sorted(gone))
        if (gone or new) and self.on_dropped is not None:
            self.on_dropped(gone | set(new))  # what was derived from them goes too: the restore brings it back
        if new:
            await self._restore(topic, new)

    async def _restore(self, topic: str, partitions: list[int]) -> None:
        started = time.monotonic()
        data, decode, hook = self.data, self.decode_value, self.on_restored
        records = 0
        last: dict[int, int | None] = {p: None for p in partitions}
        async for partition, batch in read_to_end(
            self.consumer_kwargs,
            topic,
            partitions,
            check_start=lambda partition, first: refuse_truncated(topic, partition, first),
            max_records=100_000,
            fetch_max_bytes=FETCH_BYTES,
            max_partition_fetch_bytes=FETCH_BYTES,
        ):
            for record in batch:
                key = orjson.loads(record.key)
                if record.value is None:
                    data.pop(key, None)
                    value = None
                else:
                    value = data[key] = decode(record.value)
                if hook is not None:
                    hook(partition, key, value)
                last[partition] = record.offset
                records += 1
        self.restored.update(last)
        log.info(
            "%s: restored partitions %s from %d changelog records in %.1fs",
            topic,
            partitions,
            records,
            time.monotonic() - started,
        )

    def apply_changelog_batch(
        self, batch: Iterable[EventT[Any]], to_key: Callable[[Any], Any], to_value: Callable[[Any], Any]
    ) -> None:
        """The tail Faust's recovery reads after the bulk restore: never over a key changed here since."""
        dirty = self.dirty()
        data = self.data
        for event in batch:
            key = to_key(event.key)
            if key in dirty:
                continue
            if event.message.value is None:
                data.pop(key, None)
            else:
                data[key] = to_value(event.value)

    async def on_recovery_completed(self, active_tps: set[TP], standby_tps: set[TP]) -> None:
        return None  # revoked partitions' keys are dropped in on_rebalance


def refuse_truncated(topic: str, partition: int, first_offset: int) -> None:
    """A compacted changelog keeps its log start at 0 (the cleaner never moves it): one past 0 lost records
    to time or size retention or to DeleteRecords (faust-streaming #597, #651), before or during the read."""
    if first_offset > 0:
        raise ChangelogTruncated(
            f"changelog {topic} partition {partition} starts at offset {first_offset}, not 0: records were "
            "deleted (retention.ms/retention.bytes on a changelog, or DeleteRecords), so this partition's "
            "state cannot be rebuilt exactly. Set the topic back to cleanup.policy=compact with no retention, "
            "then rebuild the state: stop every worker, delete the worker's internal topics "
            "(<prefix>salesfloor-*) and its consumer groups, and start again (the input topics are read from "
            "the start)"
        )

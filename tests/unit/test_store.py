"""BulkRestoredStore's rebalance: the keys of partitions gone elsewhere are dropped, new ones restored, and
`on_dropped` hears of both (the aggregate view forgets what it derived from them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from faust.types import TP

from streams.app import create_app
from streams.kafka.buffered import BufferedTable
from streams.kafka.store import BulkRestoredStore
from streams.kafka.tables import buffered_table
from streams.settings import load_settings


@pytest.fixture
def app() -> Iterator[Any]:
    yield create_app(load_settings(kafka_bootstrap="127.0.0.1:1", topic_prefix="store."))


def table_of(app: Any, name: str, **options: Any) -> tuple[BufferedTable, BulkRestoredStore, str]:
    """A buffered table of 4 partitions (a key starts with its partition), its store and changelog topic."""
    table = buffered_table(
        app,
        name,
        partitions=4,
        partition_of=lambda key: int(key[0]),
        decode=bytes,
        encode=bytes,
        consumer_kwargs={},
        **options,
    )
    store = table.table.data
    assert isinstance(store, BulkRestoredStore)
    return table, store, table.table.changelog_topic.get_topic_name()


async def test_dropped_and_newly_assigned_partitions_reach_on_dropped(
    app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped: list[set[int]] = []
    table, store, changelog = table_of(app, "aggregates", on_dropped=dropped.append)
    store.restored = {0: 5, 2: 7}  # owned: partitions 0 and 2
    table.data.update({"0-a": b"1", "2-b": b"2", "2-c": b"3"})
    restoring: list[list[int]] = []

    async def restore(topic: str, partitions: list[int]) -> None:
        assert dropped == [{2, 3}]  # the view forgets before the restore feeds it
        restoring.append(partitions)
        store.restored.update(dict.fromkeys(partitions))

    monkeypatch.setattr(store, "_restore", restore)
    monkeypatch.setattr(app.assignor, "assigned_actives", lambda: {TP(changelog, 0), TP(changelog, 3)})
    await store.on_rebalance(set(), set(), set())
    assert dropped == [{2, 3}] and restoring == [[3]]
    assert table.data == {"0-a": b"1"}
    await store.on_rebalance(set(), set(), set())  # nothing moved: nothing forgotten
    assert dropped == [{2, 3}]


def test_what_this_worker_wrote_counts_as_persisted_for_the_partitions_it_owns(app: Any) -> None:
    """A partition kept over a rebalance is not read back from its changelog start: Faust's recovery starts
    after the last record this worker wrote (`persisted_offset`), as it does for its own tables."""
    table, store, changelog = table_of(app, "entities")
    store.restored = {0: None, 1: 40}  # partition 0 was empty when restored, 1 read up to offset 40
    table.written(0, 6)
    table.written(1, 39)  # never backwards
    table.written(2, 9)  # not owned here (revoked meanwhile): nothing
    table.written(1, -1)  # nothing acknowledged
    assert [store.persisted_offset(TP(changelog, p)) for p in range(3)] == [6, 40, None]
    table.written(1, 52)
    assert store.persisted_offset(TP(changelog, 1)) == 52
    assert set(store.restored) == {0, 1}

"""BufferedTable: each dirty key reaches its changelog partition once per flush, never for a partition
owned elsewhere, and a flush that cannot finish while the worker stops aborts the commit.
RebalanceGate: a revocation waits for the running flush, and no flush runs until the next assignment."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from streams.errors import NotFlushed
from streams.kafka.buffered import BufferedTable, RebalanceGate, flush_tables


class Batch:
    def __init__(self, capacity: int) -> None:
        self.records: list[tuple[bytes, bytes | None]] = []
        self.capacity = capacity

    def append(self, *, key: bytes, value: bytes | None, timestamp: None) -> object | None:
        if len(self.records) >= self.capacity:
            return None
        self.records.append((key, value))
        return object()

    def record_count(self) -> int:
        return len(self.records)

    def size(self) -> int:
        return sum(len(k) + len(v or b"") for k, v in self.records)


class Producer:
    """Records what the batch API was given; `fail` deliveries fail, `hang` never complete."""

    def __init__(
        self, capacity: int = 3, fail: int = 0, hang: bool = False, acknowledge: asyncio.Event | None = None
    ) -> None:
        self.capacity, self.fail, self.hang, self.acknowledge = capacity, fail, hang, acknowledge
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes | None]]]] = []
        self.ends: dict[int, int] = {}  # partition -> offset of its next record

    def create_batch(self) -> Batch:
        return Batch(self.capacity)

    async def send_batch(self, batch: Batch, topic: str, *, partition: int) -> asyncio.Future[Any]:
        """Resolves, as aiokafka's does, to the offset of the batch's first record (in a RecordMetadata)."""
        delivery: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail:
            self.fail -= 1
            delivery.set_exception(ConnectionError("broker away"))
            return delivery
        if self.hang:
            return delivery
        self.sent.append((topic, partition, batch.records))
        metadata = SimpleNamespace(partition=partition, offset=self.ends.get(partition, 0))
        self.ends[partition] = metadata.offset + len(batch.records)
        if self.acknowledge is not None:  # the broker acknowledges when the test says so
            asyncio.create_task(self.acknowledge.wait()).add_done_callback(lambda _: delivery.set_result(metadata))
        else:
            delivery.set_result(metadata)
        return delivery


class Table:
    def __init__(self) -> None:
        self.data = type("Store", (), {"data": {}})()
        self.changelog_topic = type("Topic", (), {"get_topic_name": staticmethod(lambda: "t-changelog")})()


def records(producer: Producer) -> dict[tuple[int, Any], Any]:
    return {(partition, orjson.loads(key)): value for _, partition, batch in producer.sent for key, value in batch}


async def test_each_dirty_key_once_with_its_latest_value_and_tombstones() -> None:
    table = BufferedTable(Table(), encode=orjson.dumps, owned=lambda: {0, 1})
    for n in range(5):
        table.put("a", 0, {"n": n})
    for n in range(7):
        table.put(f"k{n}", 1, n)
    table.put("gone", 1, 1)
    table.delete("gone", 1)
    producer = Producer()
    assert await flush_tables(producer, [table], stopping=lambda: False) == 9
    sent = records(producer)
    assert sum(len(batch) for _, _, batch in producer.sent) == 9 == len(sent)
    assert sent[(0, "a")] == b'{"n":4}' and sent[(1, "k6")] == b"6" and sent[(1, "gone")] is None
    assert all(len(batch) <= 3 for _, _, batch in producer.sent)  # split at the batch size
    producer.sent.clear()
    assert await flush_tables(producer, [table], stopping=lambda: False) == 0  # nothing dirty any more


async def test_partitions_owned_elsewhere_are_never_written() -> None:
    owned = {0, 1}
    table = BufferedTable(Table(), encode=orjson.dumps, owned=lambda: owned)
    table.put("mine", 0, 1)
    table.put("theirs", 1, 2)
    owned.discard(1)  # partition 1 moved to another worker
    producer = Producer()
    await flush_tables(producer, [table], stopping=lambda: False)
    assert records(producer) == {(0, "mine"): b"1"}
    assert table.get("theirs") == 2  # memory is the store's business (dropped on rebalance)


async def test_failed_deliveries_are_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streams.kafka.buffered.RETRY_S", 0.01)
    table = BufferedTable(Table(), encode=orjson.dumps, owned=lambda: {0})
    table.put("a", 0, 1)
    producer = Producer(fail=2)
    await flush_tables(producer, [table], stopping=lambda: False)
    assert records(producer) == {(0, "a"): b"1"}


async def test_a_stopping_worker_gives_up_instead_of_committing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streams.kafka.buffered.RETRY_S", 0.01)
    table = BufferedTable(Table(), encode=orjson.dumps, owned=lambda: {0})
    table.put("a", 0, 1)
    with pytest.raises(NotFlushed):
        await flush_tables(Producer(hang=True), [table], stopping=lambda: True)
    table.put("b", 0, 1)
    with pytest.raises(NotFlushed):
        await flush_tables(Producer(fail=1), [table], stopping=lambda: True)


async def test_a_revocation_waits_for_the_running_flush_and_none_runs_until_the_assignment() -> None:
    """The race behind the scale-out loss: a commit's flush still writing partition 1 when the rebalance
    moved it away, and the store dropped its keys (unsent ones went out as tombstones)."""
    gate, owned = RebalanceGate(), {0, 1}
    table = BufferedTable(Table(), encode=orjson.dumps, owned=lambda: owned)
    for n in range(6):
        table.put(f"k{n}", n % 2, n)
    acknowledge = asyncio.Event()
    producer = Producer(acknowledge=acknowledge)

    def flush() -> Any:
        return flush_tables(producer, [table], stopping=lambda: False)

    flushing = asyncio.create_task(gate.flush(flush))
    await asyncio.sleep(0.01)
    assert {partition for _, partition, _ in producer.sent} == {0}  # partition 0 sent, waiting for the broker
    revoking = asyncio.create_task(gate.revoked())
    await asyncio.sleep(0.05)
    assert not revoking.done()  # the group cannot hand partition 1 on while its state is being written
    acknowledge.set()
    assert await flushing is True
    await asyncio.wait_for(revoking, 1)
    assert records(producer) == {(n % 2, f"k{n}"): str(n).encode() for n in range(6)}  # values, no tombstone

    table.put("k0", 0, 10)  # processed after the revocation, before the assignment
    assert await gate.flush(flush) is False  # the commit is skipped
    assert len(records(producer)) == 6
    gate.assigned()
    assert await gate.flush(flush) is True
    assert records(producer)[(0, "k0")] == b"10"


async def test_each_flush_tells_how_far_the_changelog_partitions_it_wrote_now_reach() -> None:
    """The store's persisted offsets: a later recovery of a partition kept over a rebalance starts after
    what this worker wrote (streams/kafka/store.py: `written`)."""
    written: list[tuple[int, int]] = []
    table = BufferedTable(
        Table(), encode=orjson.dumps, owned=lambda: {0, 1}, written=lambda p, o: written.append((p, o))
    )
    producer = Producer(capacity=3)
    for n in range(7):
        table.put(f"k{n}", 0, n)
    table.put("one", 1, 1)
    await flush_tables(producer, [table], stopping=lambda: False)
    assert sorted(written) == [(0, 6), (1, 0)]  # 7 records in batches of 3: offsets 0..6
    written.clear()
    table.put("k1", 0, 10)
    await flush_tables(producer, [table], stopping=lambda: False)
    assert written == [(0, 7)]


async def test_what_first_sends_is_acknowledged_before_any_record_and_records_are_as_taken() -> None:
    """The worker ships what its state changed as the keys are taken (`first`): a changelog record must
    never reach the broker before that ship, or a crash in between leaves a change the next owner restores
    and never ships. A value changed while the flush waits goes out at the next one."""
    table = BufferedTable(Table(), encode=orjson.dumps, owned=lambda: {0})
    table.put("a", 0, 1)
    ship: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    producer = Producer()
    flushing = asyncio.create_task(flush_tables(producer, [table], stopping=lambda: False, first=lambda: [ship]))
    await asyncio.sleep(0.05)
    assert producer.sent == []  # the ship is not acknowledged yet
    table.put("a", 0, 2)
    ship.set_result(SimpleNamespace(partition=3, offset=0))
    assert await flushing == 1
    assert records(producer) == {(0, "a"): b"1"}  # as it was when taken
    assert table.dirty == {"a": 0}
    await flush_tables(producer, [table], stopping=lambda: False)
    assert records(producer) == {(0, "a"): b"2"}


async def test_a_lost_ship_does_not_hold_back_the_state(caplog: pytest.LogCaptureFixture) -> None:
    table = BufferedTable(Table(), encode=orjson.dumps, owned=lambda: {0})
    table.put("a", 0, 1)
    ship: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    ship.set_exception(ConnectionError("broker away"))
    producer = Producer()
    assert await flush_tables(producer, [table], stopping=lambda: False, first=lambda: [ship]) == 1
    assert records(producer) == {(0, "a"): b"1"}
    assert "a ship before the commit was not delivered" in caplog.text

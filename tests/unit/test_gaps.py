"""OffsetGaps: which messages Faust skipped, from where it sought and what it delivered since."""

from __future__ import annotations

from typing import Any

from streams.kafka.gaps import OffsetGaps


def test_a_message_past_the_sought_offset_reports_the_skipped_ones() -> None:
    gaps = OffsetGaps({})
    gaps.sought({("entities", 3): 2092, ("entities", 1): 40})
    assert gaps.check("entities", 3, 2093) == 2092  # the scale-out case: 2092 never delivered
    assert gaps.check("entities", 3, 2094) is None
    assert gaps.check("entities", 1, 40) is None
    assert gaps.check("entities", 1, 41) is None
    assert gaps.check("entities", 1, 45) == 42


def test_replays_and_unknown_starts_are_not_gaps() -> None:
    gaps = OffsetGaps({})
    assert gaps.check("aggregates", 0, 17) is None  # nothing known yet: no committed offset
    gaps.sought({("aggregates", 0): None})
    assert gaps.check("aggregates", 0, 5) is None
    assert gaps.check("aggregates", 0, 3) is None  # a replay from further back
    assert gaps.check("aggregates", 0, 4) is None
    gaps.sought({("aggregates", 0): -1001})  # Kafka's "no offset"
    assert gaps.check("aggregates", 0, 9) is None
    assert gaps.check("aggregates", 0, 10) is None
    assert gaps.check("aggregates", 0, 12) == 11


async def test_a_read_back_range_is_committed_at_the_next_commit() -> None:
    """Faust's own bookkeeping (faust-streaming 0.15.3's consumer, no broker): after a seek to 1228 it
    delivers 1325 and records 1229..1325 as a gap; the agent reads 1228..1324 back and acknowledges them.
    Acknowledged twice, the gap's offsets made its commits creep one offset at a time."""
    import faust
    from faust.types import TP, Message

    from streams.kafka.gaps import acknowledge

    app = faust.App("test-gaps", broker="kafka://127.0.0.1:1")
    app.topics._acking_topics.add("entities")  # noqa: SLF001 - what subscribing the agent does
    consumer: Any = app.consumer  # its private bookkeeping is what this test drives
    tp = TP("entities", 1)
    consumer._committed_offset[tp] = 1228  # noqa: SLF001 - sought to the committed offset
    await consumer._add_gap(tp, 1229, 1325)  # noqa: SLF001 - the drain loop, read offset 1228, message 1325
    acknowledge(consumer, "entities", 1, list(range(1228, 1325)))
    for offset in range(1325, 1400):  # the delivered message and the ones after it, processed
        consumer.ack(Message("entities", 1, offset, 0.0, 0, None, None, None, None, tp=tp))

    commits = []
    for _ in range(3):
        offsets = consumer._filter_committable_offsets({tp})  # noqa: SLF001 - what Consumer.commit does
        consumer._committed_offset.update(offsets)  # noqa: SLF001
        commits.append(consumer._committed_offset[tp])  # noqa: SLF001
    assert commits[-1] == 1400, commits


def test_messages_read_back_are_acknowledged_to_faust() -> None:
    from streams.kafka.gaps import acknowledge

    acked: list[tuple[str, int, int]] = []

    class Consumer:
        _gap: dict[object, object] = {}

        def ack(self, message: object) -> bool:
            tp = message.tp  # type: ignore[attr-defined]
            acked.append((tp.topic, tp.partition, message.offset))  # type: ignore[attr-defined]
            return True

    acknowledge(Consumer(), "entities", 3, [2091, 2092])
    assert acked == [("entities", 3, 2091), ("entities", 3, 2092)]

"""OffsetGaps: which messages Faust skipped, from where it sought and what it delivered since."""

from __future__ import annotations

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


def test_messages_read_back_are_acknowledged_to_faust() -> None:
    from streams.kafka.gaps import acknowledge

    acked: list[tuple[str, int, int]] = []

    class Consumer:
        def ack(self, message: object) -> bool:
            tp = message.tp  # type: ignore[attr-defined]
            acked.append((tp.topic, tp.partition, message.offset))  # type: ignore[attr-defined]
            return True

    acknowledge(Consumer(), "entities", 3, [2091, 2092])
    assert acked == [("entities", 3, 2091), ("entities", 3, 2092)]

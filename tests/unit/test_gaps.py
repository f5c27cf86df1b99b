"""OffsetGaps: which messages Faust skipped, from where it sought and what it delivered since."""

from __future__ import annotations

from agents.gaps import OffsetGaps


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

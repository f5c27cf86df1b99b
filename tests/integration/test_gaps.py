"""OffsetGaps reads the messages Faust skipped back from the real broker."""

from __future__ import annotations

from streams.kafka.gaps import OffsetGaps
from tests.integration.floor import produce_numbered


async def test_reads_exactly_the_skipped_offsets(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}entities"
    await produce_numbered(kafka_bootstrap, topic, {0: 10})
    gaps = OffsetGaps({"bootstrap_servers": kafka_bootstrap})
    assert await gaps.read(topic, 0, 3, 7) == [(n, {"n": n}) for n in range(3, 7)]
    assert await gaps.read(topic, 0, 9, 10) == [(9, {"n": 9})]

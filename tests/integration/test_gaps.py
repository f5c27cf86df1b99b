"""OffsetGaps reads the messages Faust skipped back from the real broker."""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaProducer

from streams.kafka.gaps import OffsetGaps


async def test_reads_exactly_the_skipped_offsets(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}entities"
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for n in range(10):
            await producer.send_and_wait(topic, orjson.dumps({"n": n}), partition=0)
    finally:
        await producer.stop()
    gaps = OffsetGaps({"bootstrap_servers": kafka_bootstrap})
    assert await gaps.read(topic, 0, 3, 7) == [(n, {"n": n}) for n in range(3, 7)]
    assert await gaps.read(topic, 0, 9, 10) == [(9, {"n": 9})]

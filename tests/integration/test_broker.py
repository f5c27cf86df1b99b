"""The local Kafka broker works the way the stream processor needs it to."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import ConsumerRecord

CREATE_TIME = 0  # ConsumerRecord.timestamp_type for producer-set timestamps
SIXTY_DAYS_MS = 60 * 24 * 3600 * 1000


async def _create_topic(bootstrap: str, name: str, partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
        for _ in range(50):  # a new topic's metadata reaches the broker's cache a moment after its creation
            topics = await admin.describe_topics([name])
            if topics[0]["error_code"] != 3:  # UNKNOWN_TOPIC_OR_PARTITION
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    assert [t["topic"] for t in topics] == [name]
    assert topics[0]["error_code"] == 0
    assert len(topics[0]["partitions"]) == partitions


async def _consume(bootstrap: str, topic: str, count: int, timeout_s: float = 30.0) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[ConsumerRecord] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def test_keyed_roundtrip_over_four_partitions(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}roundtrip"
    await _create_topic(kafka_bootstrap, topic, partitions=4)

    sent = {f"key-{i:03d}".encode(): f"value-{i:03d}".encode() for i in range(100)}
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        assert await producer.partitions_for(topic) == {0, 1, 2, 3}
        futures = [await producer.send(topic, key=k, value=v) for k, v in sent.items()]
        metadata = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    assert {m.partition for m in metadata} == {0, 1, 2, 3}

    records = await _consume(kafka_bootstrap, topic, len(sent))
    assert len(records) == len(sent)
    assert {r.key: r.value for r in records} == sent
    # each record lands where the producer was told it went, in send order within its partition
    sent_at = {k: (m.partition, m.offset) for k, m in zip(sent, metadata, strict=True)}
    assert {r.key: (r.partition, r.offset) for r in records} == sent_at


async def test_message_dated_sixty_days_ago_is_kept(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}old-timestamps"  # auto-created on first produce
    old_ts = int(time.time() * 1000) - SIXTY_DAYS_MS

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, key=b"sale-1", value=b'{"amount": 12.5}', timestamp_ms=old_ts)
    finally:
        await producer.stop()
    assert meta.timestamp == old_ts  # CreateTime topic: broker echoes the producer timestamp

    [record] = await _consume(kafka_bootstrap, topic, 1)
    assert (record.key, record.value) == (b"sale-1", b'{"amount": 12.5}')
    assert record.timestamp == old_ts
    assert record.timestamp_type == CREATE_TIME

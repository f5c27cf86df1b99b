"""The event contract on the real broker: simulated events go into the topics and come back decoded and
valid; every malformed message ends in the dead-letter topic with its reason and is counted, and
duplicates and late events are counted and ignored."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from streams.errors import InvalidEvent
from streams.sim.simulator import FloorConfig
from streams.topics import INPUT_TOPICS
from tests.integration.floor import decode_as_read, distorted, produce_values
from tests.integration.workers import Worker, worker_env


async def read_topics(bootstrap: str, topics: list[str], expect: int, wait_s: float = 60) -> list[object]:
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    records: list[object] = []
    try:
        deadline = asyncio.get_running_loop().time() + wait_s
        while len(records) < expect and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend(messages)
    finally:
        await consumer.stop()
    return records


def counter_total(text: str, name: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


async def test_events_round_trip_and_rejects_reach_the_deadletter(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    # 30 hours hold a business day at any hour: 6 hours at night gave only 20 malformed messages
    config = FloorConfig(seed=5, teams=2, reps_per_team=3, start=now - timedelta(hours=30), end=now)
    labelled = distorted(config, shuffle=0.05, duplicate=0.02, malformed=0.05, late=0.01)
    values = [v for v, _ in labelled]
    malformed = [v for v, label in labelled if label.startswith("malformed")]
    late, duplicates, seen_ids = [], [], set()
    for value in values:
        if value in malformed:
            continue
        record = decode_as_read(value)
        if record.occurred_at < now - timedelta(days=40):
            late.append(value)
        elif record.event_id in seen_ids:
            duplicates.append(value)
        seen_ids.add(record.event_id)
    assert len(malformed) > 20 and late and duplicates

    worker = Worker(worker_env(kafka_bootstrap, topic_prefix), tmp_path / "w.log").start()
    try:
        worker.wait_ready()
        await produce_values(values, kafka_bootstrap, topic_prefix, keys="spec")

        # read back: every message is in its topic; the valid ones decode to the same event
        inputs = await read_topics(kafka_bootstrap, [topic_prefix + t for t in INPUT_TOPICS], len(values))
        assert sorted(m.value for m in inputs) == sorted(values)  # type: ignore[attr-defined]
        decoded = 0
        for message in inputs:
            try:
                record = decode_as_read(message.value)  # type: ignore[attr-defined]
            except InvalidEvent:
                assert message.value in malformed  # type: ignore[attr-defined]
                continue
            original = orjson.loads(message.value)  # type: ignore[attr-defined]
            assert (record.event_id, record.team_id) == (original["event_id"], original["team_id"])
            decoded += 1
        assert decoded == len(values) - len(malformed)

        # every rejected message is in the dead-letter topic with its reason, original value and position
        dead = await read_topics(kafka_bootstrap, [topic_prefix + "deadletter"], len(malformed))
        assert len(dead) == len(malformed)
        seen: list[bytes] = []
        for message in dead:
            body = orjson.loads(message.value)  # type: ignore[attr-defined]
            assert body["error"] and body["reason"]
            assert body["topic"].startswith(topic_prefix) and body["offset"] >= 0 and body["partition"] >= 0
            raw = body["value"].encode() if body["value_encoding"] == "text" else base64.b64decode(body["value"])
            with_reason = decode_error(raw)
            assert with_reason == body["reason"]
            seen.append(raw)
        assert sorted(seen) == sorted(malformed)

        text = await asyncio.to_thread(worker.metrics)
        for _ in range(40):
            if counter_total(text, "salesfloor_events_duplicate_total") >= len(duplicates):
                break
            await asyncio.sleep(0.5)
            text = await asyncio.to_thread(worker.metrics)
        assert counter_total(text, "salesfloor_events_rejected_total") == len(malformed)
        assert counter_total(text, "salesfloor_events_late_total") == len(late)
        assert counter_total(text, "salesfloor_events_duplicate_total") == len(duplicates)
        valid_in_time = len(values) - len(malformed) - len(late)
        assert counter_total(text, "salesfloor_events_total") == valid_in_time
        assert counter_total(text, "salesfloor_event_delay_seconds_count") == valid_in_time
    finally:
        worker.stop()


def decode_error(raw: bytes) -> str:
    try:
        decode_as_read(raw)
    except InvalidEvent as exc:
        return exc.reason
    raise AssertionError(f"dead-lettered value decodes: {raw[:80]!r}")

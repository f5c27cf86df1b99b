"""Simulated floors for integration tests: produce them into the real broker, and compute what the
KPIs must be with the reference computation."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import ConsumerRecord

from streams.audit import reference
from streams.errors import InvalidEvent
from streams.records import Event, decode_event
from streams.settings import load_settings
from streams.sim.distort import distort_labeled
from streams.sim.produce import produce
from streams.sim.simulator import FloorConfig, generate
from tests.integration.workers import Worker
from tests.kpi_compare import differences, parse_metrics


def business_zone(now: datetime) -> str:
    """A zone whose day is at least 5 hours old now, so `today` holds a real floor whenever the test
    runs (just after midnight UTC a UTC day had 37 events), and at least an hour from its end, so it
    does not turn while the test runs (at 23:59 UTC the board went back to an empty day): UTC, or
    UTC-6 (16:00 to 22:59 there) from 22:00 to 04:59 UTC."""
    return "UTC" if 5 <= now.hour < 22 else "Etc/GMT+6"


def busy_start(now: datetime, hours: float = 24, tz: str = "UTC") -> datetime:
    """The start of a floor that ends now and holds at least a weekday's business hours (10 hours of
    08:00-18:00 local, Monday to Friday, the simulator's busy time): `hours` back, or whole days further.
    On a Monday morning the last 24 hours were a Sunday, and the busy-day tests had a fifth of their floor."""
    zone, start = ZoneInfo(tz), now - timedelta(hours=hours)
    while _weekday_business_hours(start, now, zone) < 10:
        start -= timedelta(days=1)
    return start


def _weekday_business_hours(start: datetime, end: datetime, zone: ZoneInfo) -> int:
    hour, count = start.replace(minute=0, second=0, microsecond=0), 0
    if hour < start:
        hour += timedelta(hours=1)  # the whole hours from the start on
    while hour < end:
        local = hour.astimezone(zone)
        count += local.weekday() < 5 and 8 <= local.hour < 18
        hour += timedelta(hours=1)
    return count


def distorted(config: FloorConfig, **shares: float) -> list[tuple[bytes, str]]:
    """Arrival-ordered raw values with their labels (valid, malformed, late, duplicate...)."""
    return [(value, label) for value, label in distort_labeled(generate(config), seed=config.seed, **shares)]


def decode_as_read(value: bytes) -> Event:
    """Decode as the worker's ingest does now: events more than 300 s ahead of the wall clock are `future`."""
    return decode_event(value, latest_us=int(time.time() * 1_000_000) + 300_000_000)


def valid_events(values: list[bytes]) -> list[dict[str, Any]]:
    out = []
    for value in values:
        try:
            decode_as_read(value)
        except InvalidEvent:
            continue
        out.append(orjson.loads(value))
    return out


async def produce_numbered(bootstrap: str, topic: str, counts: dict[int, int]) -> None:
    """`{"n": 0}`, `{"n": 1}`, ... to each partition, as many as `counts` says, each acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for partition, count in counts.items():
            for n in range(count):
                await producer.send_and_wait(topic, orjson.dumps({"n": n}), partition=partition)
    finally:
        await producer.stop()


async def produce_values(values: list[bytes], bootstrap: str, prefix: str, keys: str = "random") -> None:
    settings = load_settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    stats = await produce(values, settings=settings, keys=keys, progress=lambda s: None)
    assert stats.failed == 0 and stats.acked == len(values), f"{stats.summary()}: {stats.first_error}"


async def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of a topic, up to its end now."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or range(4))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        out = []
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


FULL_CHECK_EVERY_S = 10.0


def clear_of_a_minute_turn(margin_s: float = 3.0, needed_s: float = 25.0) -> None:
    """Wait until the next `needed_s` seconds cross no minute boundary and the last one is `margin_s` behind.

    A one-time comparison of the `last_60m` windows with the reference cannot read both at one instant: a
    minute turning between the reference's `now` and the worker's reply (or less than a ship interval
    before it: the worker moves its minute buckets on at its next ship) shifts the window on one side only.
    `converge` retries; a check that compares once first waits for a quiet stretch of the minute."""
    now = datetime.now(timezone.utc)
    second = now.second + now.microsecond / 1e6
    if not margin_s <= second <= 60 - needed_s:
        time.sleep((60 - second + margin_s) % 60)


def read_to_end(workers: list[Worker]) -> bool:
    """Every worker's /api/health lists assigned partitions, each read to its end (lag 0)."""
    for worker in workers:
        assert worker.alive(), f"worker died:\n{worker.log_tail()}"
        lag = worker.health().get("lag")
        if not lag or any(v != 0 for v in lag.values()):
            return False
    return True


def converge(
    workers: list[Worker], events: list[dict[str, Any]], *, tz: str = "UTC", timeout: float = 180, **compute: Any
) -> dict[Any, float]:
    """Scrape until the union of the workers' KPI series equals the reference; returns that union.

    The reference over a busy day costs seconds of CPU that the workers need, so after a miss the next
    comparison waits until every worker reports its partitions read to their end (or FULL_CHECK_EVERY_S)."""
    deadline = time.monotonic() + timeout
    problems: list[str] = ["never scraped"]
    next_full = time.monotonic()
    while time.monotonic() < deadline:
        if time.monotonic() < next_full and not read_to_end(workers):
            time.sleep(0.2)
            continue
        now = datetime.now(timezone.utc)
        union: dict[Any, float] = {}
        for worker in workers:
            assert worker.alive(), f"worker died:\n{worker.log_tail()}"
            for k, v in parse_metrics(worker.metrics()).items():
                if k[0] == "salesfloor_consumer_lag":  # not compared; two report an input partition mid-rebalance
                    continue
                assert k not in union, f"{k} exported by two workers"
                union[k] = v
        want = reference.compute(events, now=now, tz=tz, **compute)
        problems = differences(union, want)
        if not problems:
            return union
        next_full = time.monotonic() + FULL_CHECK_EVERY_S
        time.sleep(0.5)
    tails = "\n".join(w.log_tail(20) for w in workers)
    raise AssertionError(f"{len(problems)} differences, e.g.\n" + "\n".join(problems[:15]) + f"\n{tails}")

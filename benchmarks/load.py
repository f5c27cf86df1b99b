"""Test floors for the benchmarks: simulated (streams.sim.simulator) or synthetic waiting leads, produced
into fresh input topics with the project's own `produce`."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from benchmarks.common import Expected, say
from streams.settings import load_settings
from streams.sim.produce import ProduceStats, produce
from streams.sim.realtime import events_per_second
from streams.sim.simulator import TEAM_NAMES, FloorConfig, generate
from streams.topics import INPUT_TOPICS, ensure_topics, topic_name


@dataclass
class Dataset:
    """Events waiting in the input topics of `prefix`, and what they must add up to."""

    prefix: str
    events: int
    expected: Expected
    teams: int
    reps: int
    first: str = ""
    last: str = ""
    load_s: float = 0.0
    bytes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "events": self.events,
            "teams": self.teams,
            "reps": self.reps,
            "first_event": self.first,
            "last_event": self.last,
            "load_s": round(self.load_s, 1),
            "mean_value_bytes": round(self.bytes / max(self.events, 1), 1),
            "leads_created": self.expected.total("leads_created"),
            **self.extra,
        }


CREATED_PREFIXES: list[str] = []  # every prefix of this run, for delete_topics at the end


def new_prefix(kind: str) -> str:
    prefix = f"bench-{kind}-{uuid.uuid4().hex[:8]}."
    CREATED_PREFIXES.append(prefix)
    return prefix


async def delete_topics(bootstrap: str, prefixes: list[str]) -> int:
    """Delete the topics (input, output, internal, changelogs) whose names start with these prefixes."""
    from aiokafka.admin import AIOKafkaAdminClient

    if not prefixes:
        return 0
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(tuple(prefixes))]
        for start in range(0, len(doomed), 50):
            await admin.delete_topics(doomed[start : start + 50])
        return len(doomed)
    finally:
        await admin.close()


def floor_config(
    events: int | None, *, teams: int = 10, reps_per_team: int = 100, hours: float | None = None, seed: int = 1
) -> FloorConfig:
    """A floor of teams × reps around the clock, ending a minute ago, long enough for `events`."""
    end = datetime.now(timezone.utc) - timedelta(minutes=1)
    base = FloorConfig(
        start=end - timedelta(days=1),
        end=end,
        teams=teams,
        reps_per_team=reps_per_team,
        diurnal=False,
        backlog_days=1.0,
        cycle_median_days=2.0,
        seed=seed,
    )
    if hours is None:
        assert events is not None
        per_day = events_per_second(base) * 86400
        hours = 24 * events / per_day * 1.05 + 0.5
    return dataclasses.replace(base, start=end - timedelta(hours=hours), max_events=events)


async def produce_values(values: list[bytes], bootstrap: str, prefix: str, label: str) -> float:
    """Create the topics and produce the values (spec keys); returns the seconds it took."""
    settings = load_settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    await ensure_topics(settings)
    total = len(values)

    def progress(stats: ProduceStats) -> None:
        say(f"  loading {label}: {stats.acked:,}/{total:,} acked ({stats.rate:,.0f} msg/s)")

    started = time.monotonic()
    stats = await produce(values, settings=settings, keys="spec", progress=progress)
    if stats.failed or stats.acked != total:
        raise RuntimeError(f"loading {label} failed: {stats.summary()}: {stats.first_error}")
    return time.monotonic() - started


def load_floor(
    bootstrap: str,
    events: int | None,
    *,
    teams: int = 10,
    reps_per_team: int = 100,
    hours: float | None = None,
    kind: str = "floor",
) -> Dataset:
    """Simulate `events` events of a teams × reps floor and produce them into new topics."""
    cfg = floor_config(events, teams=teams, reps_per_team=reps_per_team, hours=hours)
    prefix = new_prefix(kind)
    say(
        f"generating {f'{events:,}' if events else 'all'} events: {teams}x{reps_per_team} reps, "
        f"{cfg.start:%Y-%m-%d %H:%M} .. {cfg.end:%Y-%m-%d %H:%M} UTC"
    )
    expected = Expected()
    values: list[bytes] = []
    size = 0
    first = last = ""
    for event in generate(cfg):
        expected.add(event)
        value = orjson.dumps(event)
        size += len(value)
        values.append(value)
        first = first or event["occurred_at"]
        last = event["occurred_at"]
    say(f"loading {len(values):,} events into {prefix}*")
    seconds = asyncio.run(produce_values(values, bootstrap, prefix, kind))
    say(f"loaded {len(values):,} events in {seconds:.0f}s ({len(values) / seconds:,.0f} msg/s)")
    return Dataset(
        prefix=prefix,
        events=len(values),
        expected=expected,
        teams=teams,
        reps=teams * reps_per_team,
        first=first,
        last=last,
        load_s=seconds,
        bytes=size,
    )


def team_name(i: int) -> str:
    return f"team-{TEAM_NAMES[i] if i < len(TEAM_NAMES) else f't{i + 1:02d}'}"


def waiting_leads(
    count: int, *, teams: int = 10, reps_per_team: int = 100, hours: float = 20.0, seed: int = 7
) -> Iterator[dict[str, Any]]:
    """`count` lead.created events nobody answers, spread over the last `hours`, owned round-robin."""
    import random

    rng = random.Random(seed)
    now_ms = int(time.time() * 1000) - 60_000
    span = int(hours * 3_600_000)
    for i in range(count):
        team = i % teams
        rep = (i // teams) % reps_per_team
        at = now_ms - rng.randrange(span)
        stamp = datetime.fromtimestamp(at / 1000, timezone.utc).isoformat(timespec="milliseconds")
        yield {
            "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "type": "lead.created",
            "occurred_at": stamp.replace("+00:00", "Z"),
            "team_id": team_name(team),
            "rep_id": f"rep-{team_name(team)[5:]}-{rep + 1:03d}",
            "lead_id": f"lead-bench-{i:07d}",
            "source": "inbound_web",
        }


async def input_offsets(bootstrap: str, prefix: str) -> int:
    """Messages in the input topics of `prefix` (the sum of their end offsets)."""
    counts = await topic_offsets(bootstrap, [topic_name(prefix, short) for short in INPUT_TOPICS])
    return sum(counts.values())


async def topic_offsets(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Sum of the end offsets of each topic (0 when it does not exist)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - see topics created meanwhile
        out = {}
        for topic in topics:
            partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            out[topic] = sum((await consumer.end_offsets(partitions)).values()) if partitions else 0
        return out
    finally:
        await _stop_consumer(consumer)


async def _stop_consumer(consumer: Any) -> None:
    try:
        await consumer.stop()
    except asyncio.CancelledError:  # aiokafka's group-less consumer sometimes cancels its own reset task
        pass

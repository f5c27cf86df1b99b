"""A replicated Kafka cluster (issue 18): three KRaft nodes on loopback (`kafka.sh cluster-start`), every
topic the worker creates with replication factor 3 and min.insync.replicas 2
(`SALESFLOOR_REPLICATION_FACTOR=3`). Mid-stream the node leading the most partitions is SIGKILLed and
restarted later; then another node is paused (SIGSTOP) for 20 s. KPIs equal the reference computation,
each waiting lead is alerted once per threshold and no alert is repeated, and the dead-letter topic holds
exactly the malformed messages that were sent."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import signal
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from streams.sim.simulator import FloorConfig
from tests.integration.brokers import cluster
from tests.integration.floor import converge, distorted, produce_values, read_topic, valid_events
from tests.integration.workers import Worker, worker_env

THRESHOLDS = (4, 8)
PAUSE_S = 20


async def leaders(bootstrap: str, topics: list[str]) -> Counter[int]:
    """How many partitions of these topics each node leads."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        return Counter(p["leader"] for topic in described for p in topic["partitions"] if p["leader"] >= 0)
    finally:
        await admin.close()


async def replication(bootstrap: str, topics: list[str]) -> dict[str, tuple[int, str]]:
    """Each topic's replica count and min.insync.replicas."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
        replicas = {t["topic"]: min(len(p["replicas"]) for p in t["partitions"]) for t in described}
        configs = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
        isr = {}
        for response in configs:
            for resource in response.resources:
                name, entries = resource[3], resource[4]
                isr[name] = next(entry[1] for entry in entries if entry[0] == "min.insync.replicas")
        return {t: (replicas[t], isr[t]) for t in topics}
    finally:
        await admin.close()


def digest(record: dict[str, Any]) -> str:
    """The SHA-256 of the message a dead-letter record holds (SPEC §2: text, or base64 when not UTF-8)."""
    if record.get("value_truncated"):
        return str(record["value_sha256"])
    value = record["value"]
    raw = base64.b64decode(value) if record.get("value_encoding") == "base64" else value.encode()
    return hashlib.sha256(raw).hexdigest()


async def test_kpis_alerts_and_dead_letters_survive_a_killed_leader_and_a_paused_broker(
    topic_prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    config = FloorConfig(seed=23, teams=2, reps_per_team=4, start=now - timedelta(hours=6), end=now,
                         calendars=False, diurnal=False)  # fmt: skip
    labelled = distorted(config, shuffle=0.05, duplicate=0.01, malformed=0.005)
    values = [v for v, _ in labelled]
    malformed = {v for v, label in labelled if label.startswith("malformed")}
    assert len(values) > 1500 and len(malformed) > 5, (len(values), len(malformed))
    thirds = len(values) // 3
    with cluster(tmp_path / "kafka") as nodes:
        env = worker_env(nodes.bootstrap, topic_prefix, SALESFLOOR_REPLICATION_FACTOR="3",
                         SALESFLOOR_SESSION_TIMEOUT_SECONDS="6",
                         SALESFLOOR_ALERT_THRESHOLDS=",".join(map(str, THRESHOLDS)))  # fmt: skip
        worker = Worker(env, tmp_path / "w.log").start()
        try:
            worker.wait_ready()
            created = [topic_prefix + t for t in ("leads", "calls", "alerts", "deadletter", "achievements")]
            created += [f"{topic_prefix}salesfloor-entities", f"{topic_prefix}salesfloor-aggregates-changelog"]
            assert set((await replication(nodes.bootstrap, created)).values()) == {(3, "2")}

            await produce_values(values[:thirds], nodes.bootstrap, topic_prefix)
            busiest_topics = [topic_prefix + t for t in ("leads", "calls", "emails", "deals")]
            busiest_topics.append(f"{topic_prefix}salesfloor-entities")
            node, _ = (await leaders(nodes.bootstrap, busiest_topics)).most_common(1)[0]
            os.kill(nodes.pid(node), signal.SIGKILL)  # the leader of the most partitions, mid-stream
            await produce_values(values[thirds : 2 * thirds], nodes.bootstrap, topic_prefix)
            await asyncio.sleep(5)
            await asyncio.to_thread(nodes.start)  # back: it catches up as a follower

            paused = next(n for n in (1, 2, 3) if n != node)
            os.kill(nodes.pid(paused), signal.SIGSTOP)  # a slow broker: no answer for 20 s
            producing = asyncio.ensure_future(produce_values(values[2 * thirds :], nodes.bootstrap, topic_prefix))
            try:
                await asyncio.sleep(PAUSE_S)
            finally:
                os.kill(nodes.pid(paused), signal.SIGCONT)
            await producing

            events = valid_events(values)
            await asyncio.to_thread(converge, [worker], events, timeout=300)

            await asyncio.sleep(max(THRESHOLDS) + 3)
            alerts = [orjson.loads(r.value) for r in await read_topic(nodes.bootstrap, topic_prefix + "alerts")]
            counts = Counter((a["lead_id"], a["threshold_s"]) for a in alerts)
            assert counts and max(counts.values()) == 1, [k for k, n in counts.items() if n > 1][:5]
            waiting = {e["lead_id"] for e in events if e["type"] == "lead.created"} - {
                e.get("lead_id") for e in events if e["type"] != "lead.created"
            }  # leads with no other event at all: they wait now, and waited past every threshold
            assert waiting, "the floor should hold leads nobody touched"
            for lead_id in waiting:
                for threshold in THRESHOLDS:
                    assert counts[(lead_id, threshold)] == 1, (lead_id, threshold)
            assert {a["team_id"] for a in alerts} <= {e["team_id"] for e in events}

            dead = [orjson.loads(r.value) for r in await read_topic(nodes.bootstrap, topic_prefix + "deadletter")]
            assert {digest(record) for record in dead} == {hashlib.sha256(v).hexdigest() for v in malformed}
        finally:
            worker.stop()

"""Changelog edge cases known to break Faust apps, against our bulk-restored store (issue 18, item 4):

- a changelog partition that lost its first records to retention (someone set `cleanup.policy=delete` on
  it; faust-streaming #597, #651: recovery then waits forever for offsets that no longer exist, or
  rebuilds a partial state silently): the worker refuses to start, loudly, naming the partition and what
  to do;
- a changelog partition emptied altogether (log start = end > 0): the same;
- a changelog partition that was never written (log start = end = 0, #597's other face): a restart
  recovers the exact state, KPIs equal to the reference.

(#629, partitions no longer fetched after a rebalance, is the churn test of tests/integration/test_crash.py:
seven membership changes, and every internal partition's commits reach its end.)"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.types import TP

from agents.export.health import EndOffsets, consumer_lag
from streams.kafka import faust_fixes
from tests.integration.floor import converge, produce_numbered, produce_values, valid_events
from tests.integration.workers import Worker, worker_env


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def calls(team: str, count: int, now: datetime) -> list[bytes]:
    return [
        orjson.dumps(
            {
                "event_id": f"{team}-{n}",
                "type": "call.completed",
                "occurred_at": stamp(now - timedelta(minutes=n)),
                "team_id": team,
                "rep_id": f"rep-{n % 3}",
                "call_id": f"{team}-c{n}",
                "direction": "outbound",
                "outcome": "connected",
                "duration_s": 60,
            }
        )  # fmt: skip
        for n in range(count)
    ]


async def ends(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (log start, end) of a topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    tps = [TopicPartition(topic, p["partition"]) for p in described["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        consumer.assign(tps)
        first, last = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        return {tp.partition: (first[tp], last[tp]) for tp in tps}
    finally:
        await consumer.stop()


async def delete_records(bootstrap: str, topic: str, deletions: dict[int, int]) -> None:
    """What time retention does to a changelog someone gave `cleanup.policy=delete` (Kafka refuses
    DeleteRecords on a compacted topic): the records before each offset go."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": "delete"})])
        await admin.delete_records(
            {TopicPartition(topic, p): RecordsToDelete(before) for p, before in deletions.items()}
        )
    finally:
        await admin.close()


def wait_exit(worker: Worker, within: float) -> int:
    assert worker.process is not None
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        code = worker.process.poll()
        if code is not None:
            return code
        time.sleep(0.5)
    raise AssertionError(f"the worker did not stop within {within:.0f} s:\n{worker.log_tail()}")


async def test_a_truncated_or_emptied_changelog_is_refused_and_an_unwritten_one_recovers(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    env = worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_PARTITIONS="8")
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        worker.wait_ready()
        values = calls("team-a", 40, datetime.now(timezone.utc))  # one team: few aggregate keys, so some
        await produce_values(values, kafka_bootstrap, topic_prefix)  # aggregate partitions stay unwritten
        await asyncio.to_thread(converge, [worker], valid_events(values))
        worker.stop()
        changelog = f"{topic_prefix}salesfloor-aggregates-changelog"
        bounds = await ends(kafka_bootstrap, changelog)
        assert any(last == 0 for _, last in bounds.values()), bounds  # a partition never written

        worker.start()  # the unwritten partitions recover as empty, the others exactly
        worker.wait_ready()
        await asyncio.to_thread(converge, [worker], valid_events(values))
        worker.stop()

        entities = f"{topic_prefix}salesfloor-entities-changelog"
        written = sorted((last, p) for p, (_, last) in (await ends(kafka_bootstrap, entities)).items() if last > 1)
        (_, truncated), (last, emptied) = written[0], written[-1]
        # retention took the first record of one partition, and all of another
        await delete_records(kafka_bootstrap, entities, {truncated: 1, emptied: last})
        log_size = worker.log_path.stat().st_size
        worker.start()
        code = wait_exit(worker, 90)
        log = worker.log_path.read_text(errors="replace")[log_size:]
        assert code == 3, log[-3000:]
        assert log.rstrip().splitlines()[-1].startswith(f"salesfloor: error: changelog {entities} partition")
        assert f"changelog {entities} partition" in log and "cannot be rebuilt exactly" in log, log[-3000:]
        assert "cleanup.policy=compact" in log
    finally:
        worker.stop()


async def test_the_recovery_asks_for_changelog_offsets_on_a_connection_of_its_own(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Faust's recovery asks for the changelogs' end and start offsets (`faust_fixes`): through `list_offsets`,
    the broker's answers, keyed by the partitions Faust named."""
    topic = f"{topic_prefix}offsets"
    await produce_numbered(kafka_bootstrap, topic, {0: 5, 2: 1})
    await delete_records(kafka_bootstrap, topic, {0: 2})
    app = App()
    faust_fixes.set_hooks(app, faust_fixes.Hooks(noop_commit, lambda _: None, {"bootstrap_servers": kafka_bootstrap}))
    thread = SimpleNamespace(consumer=SimpleNamespace(app=app, in_transaction=False))
    tps = [TP(topic, p) for p in range(4)]
    faust_fixes.install()
    ends = await AIOKafkaConsumerThread.highwaters(thread, *tps)  # type: ignore[arg-type]
    starts = await AIOKafkaConsumerThread.earliest_offsets(thread, *tps)  # type: ignore[arg-type]
    assert ends == {tps[0]: 5, tps[1]: 0, tps[2]: 1, tps[3]: 0}
    assert starts == {tps[0]: 2, tps[1]: 0, tps[2]: 0, tps[3]: 0}
    assert all(type(tp) is TP for tp in [*ends, *starts])


class App:
    """Stands for a Faust app: what the hooks are kept by."""


async def noop_commit() -> bool:
    return True


async def test_a_restarted_worker_learns_its_partitions_ends_before_faust_fetches_them(
    kafka_bootstrap: str, topic_prefix: str
) -> None:
    """Health's lag of internal partitions Faust's consumer has not fetched yet (unknown: not ready) comes
    from the broker once the tables' recovery is complete (`EndOffsets`), never from an earlier assignment."""
    topic = f"{topic_prefix}salesfloor-entities"
    await produce_numbered(kafka_bootstrap, topic, {1: 3})
    tps = [TP(topic, p) for p in range(4)]
    consumer = SimpleNamespace(highwater=lambda _tp: None, _read_offset={tps[1]: 0})  # read offset 0 of 0..2
    assignor = SimpleNamespace(assigned_actives=lambda: {*tps, TP(f"{topic}-changelog", 0)})
    recovery = SimpleNamespace(completed=asyncio.Event())
    app = SimpleNamespace(rebalancing=False, in_recovery=False, consumer=consumer, assignor=assignor)
    app.tables = SimpleNamespace(recovery=recovery)
    assert consumer_lag(app, {}) == dict.fromkeys(tps, -1)
    ends = EndOffsets(app, {"bootstrap_servers": kafka_bootstrap})
    await ends.learn()
    assert ends.known == {}  # the tables' recovery is not complete: the state may still be rebuilt
    recovery.completed.set()
    await ends.learn()
    assert ends.known == {tps[0]: 0, tps[1]: 3, tps[2]: 0, tps[3]: 0}
    assert consumer_lag(app, {}, ends.known) == {tps[0]: 0, tps[1]: 2, tps[2]: 0, tps[3]: 0}
    ends.forget()  # a rebalance: nothing learnt before it counts, and nothing is asked while it lasts
    app.rebalancing = True
    await ends.learn()
    assert ends.known == {}

"""Crash safety and scale-out on the real broker: workers killed with SIGKILL while a simulated day
flows, restarted or replaced, and every KPI still equals the reference — nothing lost, nothing
counted twice (at-least-once delivery, idempotent application)."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.settings import load_settings
from streams.sim.produce import produce
from streams.sim.simulator import FloorConfig
from tests.integration.floor import busy_start, converge, distorted, produce_values, valid_events
from tests.integration.workers import Worker, worker_env


def busy_day(seed: int) -> list[bytes]:
    now = datetime.now(timezone.utc)
    config = FloorConfig(
        seed=seed,
        teams=5,
        reps_per_team=10,
        intensity=6,
        lead_rate=18,
        start=busy_start(now),
        end=now - timedelta(seconds=1),
    )
    return [v for v, _ in distorted(config, shuffle=0.05, duplicate=0.01, malformed=0.002)]


async def produce_steadily(values: list[bytes], bootstrap: str, prefix: str, rate: float) -> None:
    settings = load_settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    stats = await produce(values, settings=settings, keys="random", rate=rate, progress=lambda s: None)
    assert stats.failed == 0, stats.first_error


async def test_sigkill_three_times_while_a_day_flows(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    env = worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_SESSION_TIMEOUT_SECONDS="6")
    worker = Worker(env, tmp_path / "w.log").start()  # it starts while the day is generated
    rng = random.Random(303)
    try:
        values = busy_day(seed=303)
        assert len(values) >= 50_000
        events = valid_events(values)
        worker.wait_ready()
        half = len(values) // 2
        await produce_values(values[:half], kafka_bootstrap, topic_prefix)
        flowing = asyncio.create_task(produce_steadily(values[half:], kafka_bootstrap, topic_prefix, rate=1500))
        for _ in range(3):
            await asyncio.sleep(rng.uniform(3, 9))
            worker.kill()
            worker.start()
            await asyncio.to_thread(worker.wait_ready, 120)
        await flowing
        converge([worker], events, timeout=300)
    finally:
        worker.stop()


async def test_two_then_three_workers_one_killed(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    env = worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_SESSION_TIMEOUT_SECONDS="6")
    workers = [Worker(env, tmp_path / f"w{n}.log") for n in range(3)]
    try:
        workers[0].start()  # they start while the day is generated
        workers[1].start()
        values = busy_day(seed=404)
        events = valid_events(values)
        await asyncio.to_thread(workers[0].wait_ready, 120)
        flowing = asyncio.create_task(produce_steadily(values, kafka_bootstrap, topic_prefix, rate=4000))
        await asyncio.sleep(4)
        workers[2].start()
        await asyncio.sleep(6)
        workers[1].kill()  # its partitions move to the other two
        await flowing
        converge([workers[0], workers[2]], events, timeout=300)
    finally:
        for worker in workers:
            worker.stop()


async def test_workers_join_leave_and_die_while_a_day_flows(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    """Seven membership changes (joins, a graceful stop, SIGKILLs) while events flow: every rebalance
    moves partitions, and the state of the messages in flight, from one worker to another."""
    env = worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_SESSION_TIMEOUT_SECONDS="6")
    workers = [Worker(env, tmp_path / f"w{n}.log") for n in range(3)]
    rng = random.Random(505)
    try:
        workers[0].start()  # it starts while the day is generated
        values = busy_day(seed=505)
        events = valid_events(values)
        await asyncio.to_thread(workers[0].wait_ready, 120)
        flowing = asyncio.create_task(produce_steadily(values, kafka_bootstrap, topic_prefix, rate=2500))
        plan = [("start", 1), ("start", 2), ("kill", 0), ("start", 0), ("stop", 1), ("kill", 2), ("start", 1)]
        for action, n in plan:
            await asyncio.sleep(rng.uniform(2, 5))
            if action == "start":
                workers[n].start()
            elif action == "stop":
                await asyncio.to_thread(workers[n].stop)
            else:
                workers[n].kill()
        await flowing
        for worker in workers[:2]:
            await asyncio.to_thread(worker.wait_ready, 120)
        converge(workers[:2], events, timeout=300)
        await all_committed(kafka_bootstrap, topic_prefix)
    finally:
        for worker in workers:
            worker.stop()


async def all_committed(bootstrap: str, prefix: str, wait_s: float = 60) -> None:
    """The workers' commits reach the end of the internal topics once they are idle: none is stuck
    before a message it never acknowledged (one Faust skipped and the agent read back)."""
    settings = load_settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=settings.faust_id, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [
            TopicPartition(f"{settings.faust_id}-{stage}", p)
            for stage in ("entities", "aggregates")
            for p in range(settings.partitions)
        ]
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            ends = await consumer.end_offsets(tps)
            behind = {
                f"{tp.topic}[{tp.partition}]": (committed, ends[tp])
                for tp in tps
                if (committed := await consumer.committed(tp)) != ends[tp]
            }
            if not behind:
                return
            assert asyncio.get_running_loop().time() < deadline, f"commits stuck (committed, end): {behind}"
            await asyncio.sleep(1)
    finally:
        await consumer.stop()


async def test_a_worker_killed_before_its_first_commit(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """Its partitions move with no committed offset and nothing in their changelogs, so the survivor
    must read them from their start. Faust's seek back to the committed offsets after a rebalance
    leaves such a partition wherever a fetch it dropped during the rebalance left it (aiokafka seeks
    only partitions that have a committed offset): the messages before were lost, and the survivor's
    lag on them never reached 0. `BROKER_COMMIT_INTERVAL` is Faust's own environment setting."""
    env = worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_SESSION_TIMEOUT_SECONDS="6")
    survivor = Worker(env, tmp_path / "survivor.log").start()
    doomed = Worker({**env, "BROKER_COMMIT_INTERVAL": "3600"}, tmp_path / "doomed.log")  # it never commits
    now = datetime.now(timezone.utc)
    config = FloorConfig(seed=606, teams=3, reps_per_team=5, start=now - timedelta(hours=6), end=now)
    values = [v for v, _ in distorted(config, duplicate=0.01)]
    events, half = valid_events(values), len(values) // 2
    try:
        await asyncio.to_thread(survivor.wait_ready, 120)
        doomed.start()
        await asyncio.to_thread(doomed.wait_ready, 120)
        await produce_values(values[:half], kafka_bootstrap, topic_prefix)
        await asyncio.to_thread(converge, [survivor, doomed], valid_events(values[:half]))  # each did its share
        doomed.kill()
        # the rest arrives while the survivor takes the partitions over (the session timeout, the recovery)
        await produce_steadily(values[half:], kafka_bootstrap, topic_prefix, rate=len(values[half:]) / 15)
        await asyncio.to_thread(converge, [survivor], events, timeout=120)
    finally:
        survivor.stop()
        doomed.stop()

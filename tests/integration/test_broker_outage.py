"""A broker outage mid-stream, on a dedicated broker (never the session broker): a producer keeps sending a
simulated floor while the broker is stopped for 20 s (kafka.sh stop) and started again.

What must happen:
- the worker rides it out on its own: same process, no restart, and it reads on once the broker is back;
- the producer's buffered messages are delivered after the restart: every message acknowledged, none failed;
- the KPIs converge to the reference over all events (nothing lost, nothing counted twice);
- /api/health tells the truth: it keeps answering during the outage, turns 503 (`ready: false`) within
  HEALTH_DETECT_S of the broker going away and stays so until the broker is back, then 200 again once
  the worker has caught up. A load balancer or Kubernetes probe must see a worker that cannot reach
  Kafka as not ready.
"""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.settings import load_settings
from streams.sim.produce import ProduceStats, produce
from streams.sim.simulator import FloorConfig
from streams.topics import INPUT_TOPICS
from tests.integration.brokers import dedicated_broker
from tests.integration.floor import busy_start, converge, distorted, valid_events
from tests.integration.workers import Worker, worker_env

PREFIX = "outage."
OUTAGE_S = 20.0
BEFORE_S = 8.0  # the stream runs this long before the broker goes away
SEND_S = 50.0  # the producer spreads the floor over this long: before, during and after the outage
HEALTH_DETECT_S = 10.0  # health must say "not ready" this soon after the broker is gone


class HealthLog(threading.Thread):
    """Polls /api/health twice a second: (monotonic time, HTTP status or None when no answer, ready)."""

    def __init__(self, worker: Worker) -> None:
        super().__init__(daemon=True)
        self.worker = worker
        self.samples: list[tuple[float, int | None, bool | None]] = []
        self.done = threading.Event()

    def run(self) -> None:
        import json

        while not self.done.is_set():
            at = time.monotonic()
            try:
                status, body = self.worker.get("/api/health", timeout=2)
                ready = bool(json.loads(body).get("ready"))
            except (OSError, ValueError):
                status, ready = None, None
            self.samples.append((at, status, ready))
            self.done.wait(0.5)

    def between(self, start: float, end: float) -> list[tuple[float, int | None, bool | None]]:
        return [s for s in self.samples if start <= s[0] <= end]


def summary(samples: list[tuple[float, int | None, bool | None]], origin: float) -> str:
    """Runs of equal answers, e.g. '0.0-12.3s 200 ready | 12.8-35.1s 200 ready'."""
    runs: list[list[Any]] = []
    for at, status, ready in samples:
        label = f"{status} {'ready' if ready else 'not ready' if ready is False else 'no answer'}"
        if runs and runs[-1][2] == label:
            runs[-1][1] = at
        else:
            runs.append([at, at, label])
    return " | ".join(f"{a - origin:.1f}-{b - origin:.1f}s {label}" for a, b, label in runs)


async def test_worker_and_producer_ride_out_a_broker_outage(tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    config = FloorConfig(
        seed=61,
        teams=2,
        reps_per_team=4,
        intensity=2.0,
        lead_rate=8,
        start=busy_start(now),
        end=now - timedelta(seconds=1),
    )
    values = [v for v, _ in distorted(config, shuffle=0.03)]
    rate = len(values) / SEND_S
    assert rate >= 20, len(values)

    with dedicated_broker(tmp_path / "kafka") as broker:
        worker = Worker(worker_env(broker.bootstrap, PREFIX), tmp_path / "w.log").start()
        health = HealthLog(worker)
        try:
            worker.wait_ready()
            assert worker.process is not None
            pid = worker.process.pid
            settings = load_settings(kafka_bootstrap=broker.bootstrap, topic_prefix=PREFIX)
            origin = time.monotonic()
            health.start()
            sending = asyncio.create_task(
                produce(values, settings=settings, keys="random", rate=rate, progress=lambda s: None)
            )

            await asyncio.sleep(BEFORE_S)
            assert not sending.done(), "the producer finished before the outage"
            stopping = time.monotonic()
            took_stop = await asyncio.to_thread(broker.stop)
            down = time.monotonic()
            await asyncio.sleep(OUTAGE_S)
            restarting = time.monotonic()
            took_start = await asyncio.to_thread(broker.start)
            up = time.monotonic()

            stats: ProduceStats | None = None
            produce_error: BaseException | None = None
            try:
                stats = await asyncio.wait_for(sending, timeout=240)
            except Exception as exc:  # noqa: BLE001 - reported below, after the worker is judged
                produce_error = exc
            sent_done = time.monotonic()
            # the worker is judged on what the broker holds, so a producer problem is reported apart
            delivered = await read_inputs(broker.bootstrap, PREFIX)
            held = valid_events(delivered)
            await asyncio.to_thread(converge, [worker], held, timeout=180)
            converged = time.monotonic()
            assert worker.alive() and worker.process.pid == pid, "the worker was restarted or died"
            await asyncio.sleep(3)  # a few samples of the recovered state
        finally:
            health.done.set()
            if health.is_alive():
                health.join(timeout=5)
            worker.stop()

    timeline = summary(health.samples, origin)
    print(
        f"outage: stop took {took_stop:.1f}s (at {stopping - origin:.1f}s), down {down - origin:.1f}-"
        f"{restarting - origin:.1f}s, start took {took_start:.1f}s (up at {up - origin:.1f}s); "
        f"producer done at {sent_done - origin:.1f}s ({produced(stats, produce_error)}); broker holds "
        f"{len(delivered)}/{len(values)}; KPIs exact over them at {converged - origin:.1f}s\n"
        f"health: {timeline}"
    )

    problems = []
    if stats is None or stats.failed or stats.acked != len(values) or sorted(delivered) != sorted(values):
        problems.append(
            f"producer lost messages over the outage: {produced(stats, produce_error)}; "
            f"the broker holds {len(delivered)} of {len(values)}"
        )
    # health during the outage: answering, and 503 / not ready from HEALTH_DETECT_S after it began
    during = health.between(down + HEALTH_DETECT_S, restarting)
    if not during or any(status is None for _, status, _ in during):
        problems.append(f"/api/health did not answer during the outage: {timeline}")
    elif not all(status == 503 and ready is False for _, status, ready in during):
        problems.append(
            f"/api/health kept reporting ready while the broker was down "
            f"({down - origin:.1f}-{restarting - origin:.1f}s): {timeline}"
        )
    after = health.between(converged, time.monotonic())
    if not after or not all(status == 200 and ready for _, status, ready in after):
        problems.append(f"/api/health not ready after recovery: {timeline}")
    assert not problems, "\n".join(problems)


def produced(stats: ProduceStats | None, error: BaseException | None) -> str:
    if stats is None:
        return f"produce raised {type(error).__name__}: {error!r}"
    return f"{stats.summary()}, first error {stats.first_error}"


async def read_inputs(bootstrap: str, prefix: str) -> list[bytes]:
    """Every message value in the input topics, read to their end offsets."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    values: list[bytes] = []
    try:
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public equivalent
        partitions = [
            TopicPartition(prefix + t, p)
            for t in INPUT_TOPICS
            for p in sorted(cluster.partitions_for_topic(prefix + t) or ())
        ]
        assert len(partitions) >= len(INPUT_TOPICS), partitions
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                values.extend(r.value for r in records)
    finally:
        await consumer.stop()
    return values

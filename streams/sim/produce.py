"""The real Kafka producer behind `salesfloor simulate` and `salesfloor produce`: raw message values sent to
their input topics, batched, optionally paced, each acknowledged before it returns."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from streams.settings import Settings
from streams.sim.distort import KEY_MODES, key_for_topic, topic_for_value

log = logging.getLogger(__name__)
RATE_WINDOW_S: Final = 5.0


@dataclass
class ProduceStats:
    """Running totals of one `produce` run, for progress lines and the exit code."""

    queued: int = 0
    acked: int = 0
    failed: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None
    started: float = field(default_factory=time.monotonic)
    marks: deque[tuple[float, int]] = field(default_factory=deque, repr=False)  # (time, acked) samples

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Acknowledged messages per second so far (the average since the start)."""
        return self.acked / self.elapsed

    def current_rate(self, window: float = RATE_WINDOW_S) -> float:
        """Acknowledged messages per second over about the last `window` seconds (since the start at first);
        each call leaves a sample, so calls a few seconds apart, like progress lines, measure between them."""
        now = time.monotonic()
        marks = self.marks
        if not marks:
            marks.append((self.started, 0))
        marks.append((now, self.acked))
        while len(marks) > 2 and now - marks[1][0] >= window:
            marks.popleft()
        then, acked = marks[0]
        return (self.acked - acked) / max(now - then, 1e-9)

    def summary(self) -> str:
        topics = ", ".join(f"{t}={n}" for t, n in sorted(self.by_topic.items()))
        return (
            f"queued {self.queued}, acked {self.acked}, failed {self.failed} in {self.elapsed:.1f}s "
            f"({self.current_rate():,.0f} msg/s now, {self.rate:,.0f} on average) [{topics}]"
        )


ProgressCallback = Callable[[ProduceStats], None]
PROGRESS_EVERY_S: Final = 5.0


async def _values(values: Iterable[bytes] | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(values, AsyncIterable):
        async for value in values:
            yield value
    else:
        for value in values:
            yield value


def _default_producer(settings: Settings) -> Any:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]

    # Five minutes before a batch is given up: a broker restart must not cost messages.
    return AIOKafkaProducer(
        **settings.aiokafka_kwargs(),
        linger_ms=20,
        acks="all",
        enable_idempotence=True,
        max_batch_size=256 * 1024,
        request_timeout_ms=300_000,
    )


async def produce(
    values: Iterable[bytes] | AsyncIterable[bytes],
    *,
    settings: Settings,
    keys: str = "spec",
    rate: float | None = None,
    progress: ProgressCallback | None = None,
    producer_factory: Callable[[Settings], Any] = _default_producer,
) -> ProduceStats:
    """Send raw values to their input topics, batched, optionally paced; returns once all are acked."""
    if keys not in KEY_MODES:
        raise ValueError(f"keys must be one of {KEY_MODES}, got {keys!r}")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    report = progress or (lambda stats: log.info("produce: %s", stats.summary()))
    stats = ProduceStats()
    pending: set[asyncio.Future[Any]] = set()
    key_rng = random.Random()  # noqa: S311 - message keys, not secrets

    def settled(future: asyncio.Future[Any]) -> None:
        pending.discard(future)
        error = future.exception() if not future.cancelled() else asyncio.CancelledError()
        if error is None:
            stats.acked += 1
        else:
            stats.failed += 1
            stats.first_error = stats.first_error or f"{type(error).__name__}: {error}"

    loop = asyncio.get_running_loop()
    interval = 1.0 / rate if rate else 0.0
    due = loop.time()
    next_report = loop.time() + PROGRESS_EVERY_S
    producer = producer_factory(settings)
    try:
        await producer.start()
        async for value in _values(values):
            now = loop.time()
            if interval:
                if due > now:
                    await asyncio.sleep(due - now)
                due = max(due, now - 0.1) + interval  # a stall may catch up for at most 0.1 s
            short = topic_for_value(value)
            topic = settings.topic_prefix + short
            future = await producer.send(topic, value, key=key_for_topic(value, short, keys, key_rng))
            stats.queued += 1
            stats.by_topic[topic] = stats.by_topic.get(topic, 0) + 1
            pending.add(future)
            future.add_done_callback(settled)
            if now >= next_report:
                report(stats)
                next_report = now + PROGRESS_EVERY_S
        if pending:
            await asyncio.wait(set(pending))  # producer.flush() was seen returning early
    finally:
        await producer.stop()
    report(stats)
    return stats

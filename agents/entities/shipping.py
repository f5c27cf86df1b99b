"""When the entity stage ships its changed partial buckets: every flush interval while the worker keeps up,
less often while it catches up.

A changed bucket is shipped whole (a snapshot, idempotent by version), so a bucket that every batch changes
(a team's day, the floor's) goes out once per ship however few of its fields moved. While a backlog is read
the board is stale anyway (health is not ready), and shipping every 50 ms (the default then) spent a fifth
of the stages' CPU on snapshots nobody could see; shipping every CATCH_UP_SHIP_S then costs nothing in
freshness.

After a rebalance, `Takeover` says when the aggregates owned here have applied what the ships since the
rebuild carried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from agents.ingest import ROUTE_CHUNK

CATCH_UP_EVENTS = 10_000  # events waiting to be read from which the worker counts as catching up
CATCH_UP_SHIP_S = 1.0


def events_waiting(lag: Mapping[Any, int], entity_topic: str) -> int:
    """Events behind the ends of the partitions read here (`Pipeline.lag`): a message of the entity topic
    carries up to ROUTE_CHUNK routed events, any other one an event (unknown lags, -1, count nothing)."""
    return sum(n * ROUTE_CHUNK if tp.topic == entity_topic else n for tp, n in lag.items() if n > 0)


class ShipSchedule:
    """`due()` once per flush interval (the pipeline's timer): whether to ship now."""

    def __init__(self, waiting: Callable[[], int], clock: Callable[[], float] = time.monotonic) -> None:
        self.waiting = waiting
        self.clock = clock
        self.shipped_at = float("-inf")

    def due(self) -> bool:
        now = self.clock()
        if now - self.shipped_at < CATCH_UP_SHIP_S and self.waiting() >= CATCH_UP_EVENTS:
            return False
        self.shipped_at = now
        return True


class Takeover:
    """After a rebalance: whether the aggregates owned here hold what the worker had when it caught up.

    The entity partitions a worker takes over are restored from their changelog, their partial aggregates
    rebuilt (`EntityStage.rebuild`), and the messages after their last commit replayed, as are the input
    partitions' (a killed owner applied and shipped some of them, or none). Until the aggregate stage has
    applied what the entity stage shipped from the rebuild to the moment it was caught up, a reader of the
    view can see a team's earlier days short, and the achievements would judge a record against them
    (seen: a record announced over a previous best of 4 that was 6).

    So every ship from the rebuild on is tracked (`shipped`), up to and including the one after the first
    ship at which every partition the worker reads was read to its end (`lag`, all 0): by then what was read
    is applied, and that ship carries it. `settled` is true once the broker has acknowledged them all and
    the aggregate stage has applied the last one of each partition owned here.
    """

    def __init__(self, lag: Callable[[], Mapping[Any, int]]) -> None:
        self.lag = lag  # messages behind per partition the worker reads (-1: not known)
        self.phase = SETTLED
        self.last_sent: dict[int, int] = {}  # aggregate partition -> offset of the last tracked message sent there
        self.unacknowledged = 0
        self._generation = 0

    def assigned(self) -> None:
        self.phase, self.last_sent, self.unacknowledged = REBUILDING, {}, 0
        self._generation += 1

    def rebuilt(self) -> None:
        if self.phase == REBUILDING:
            self.phase = CATCHING_UP

    def shipped(self, sent: Sequence[asyncio.Future[Any]]) -> None:
        """A ship's messages (Faust's `FutureMessage`s, which resolve to their `RecordMetadata`)."""
        if self.phase not in (CATCHING_UP, LAST_SHIP):
            return
        for future in sent:
            self.unacknowledged += 1
            future.add_done_callback(partial(self._acknowledged, self._generation))
        if self.phase == LAST_SHIP:
            self.phase = APPLYING
        elif all(n == 0 for n in self.lag().values()):
            self.phase = LAST_SHIP

    def _acknowledged(self, generation: int, future: asyncio.Future[Any]) -> None:
        if generation != self._generation:
            return
        self.unacknowledged -= 1
        if future.cancelled() or future.exception() is not None:
            return  # not delivered: nothing of it to wait for (`EntityStage.ship` logs it and ships its buckets again)
        metadata = future.result()
        self.last_sent[metadata.partition] = max(self.last_sent.get(metadata.partition, -1), metadata.offset)

    def settled(self, applied: Mapping[int, int], owned: set[int]) -> bool:
        """`applied`: aggregate partition -> offset of the last message the aggregate stage applied."""
        if self.phase == APPLYING and not self.unacknowledged:
            if all(applied.get(p, -1) >= offset for p, offset in self.last_sent.items() if p in owned):
                self.phase = SETTLED
        return self.phase == SETTLED


SETTLED, REBUILDING, CATCHING_UP, LAST_SHIP, APPLYING = "settled", "rebuilding", "catching up", "last ship", "applying"

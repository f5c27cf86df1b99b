"""When the entity stage ships its changed partial buckets: every flush interval while the worker keeps up,
less often while it catches up.

A changed bucket is shipped whole (a snapshot, idempotent by version), so a bucket that every batch changes
(a team's day, the floor's) goes out once per ship however few of its fields moved. While a backlog is read
the board is stale anyway (health is not ready), and shipping every 50 ms (the default then) spent a fifth
of the stages' CPU on snapshots nobody could see; shipping every CATCH_UP_SHIP_S then costs nothing in
freshness.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
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

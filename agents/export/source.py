"""What the read side (/metrics, the API, the wallboard, health) needs of a worker: a small typed
protocol that `agents.pipeline.Pipeline` provides, so the read side never imports the pipeline."""

from __future__ import annotations

from typing import Protocol

from faust.types import TP

from agents.achievements.feed import AchievementFeed
from agents.aggregates.view import AggregateView
from agents.kpis.series import Kpis
from streams.settings import Settings


class Worker(Protocol):
    settings: Settings
    kpis: Kpis
    view: AggregateView  # the aggregates this worker owns
    achievements: AchievementFeed  # every worker's latest achievements, for the wallboard

    @property
    def replica(self) -> AggregateView:
        """A read-only copy of the aggregates other workers own (agents/aggregates/replica.py)."""
        ...

    @property
    def broker_seen_at(self) -> float:
        """Monotonic time of the last successful broker metadata request."""
        ...

    def assigned_aggregate_partitions(self) -> set[int]: ...

    def lag(self) -> dict[TP, int]:
        """Messages behind the end of each partition this worker reads (-1: not known yet)."""
        ...

    def owner_url(self, partition: int) -> str | None:
        """The web URL of the worker that owns an aggregate partition, None when it is this one."""
        ...

    def state_sizes(self) -> tuple[int, int]:
        """Entities and aggregate buckets held."""
        ...

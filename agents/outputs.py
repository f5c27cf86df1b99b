"""The output topics' stages wired to their Faust topics: the SLA alerts (SPEC §5), the achievements
(§5b), and the wallboard's feed of every worker's achievements."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from agents.achievements.feed import AchievementFeed
from agents.achievements.stage import AchievementStage
from agents.alerts.stage import AlertStage
from streams.topics import delivered_sender, faust_topic

if TYPE_CHECKING:
    from agents.pipeline import Pipeline


class Outputs(NamedTuple):
    alerts: AlertStage
    announcer: AchievementStage
    feed: AchievementFeed


def outputs(worker: Pipeline) -> Outputs:
    """The alerts read the entity table and each entity partition's SLA clocks; the achievements the
    aggregates this worker owns, and its lag (nothing is announced while it catches up)."""
    app, settings, metrics = worker.app, worker.settings, worker.metrics
    alerts, achieved = faust_topic(app, settings, "alerts"), faust_topic(app, settings, "achievements")
    return Outputs(
        alerts=AlertStage(
            settings,
            worker.entity_state,
            alerts.get_topic_name(),
            delivered_sender(alerts),
            metrics.breach,
            lambda partition: worker.entity_stage.clocks.get(partition, {}),
        ),
        announcer=AchievementStage(
            settings,
            worker.view,
            worker.kpis.clock,
            achieved.get_topic_name(),
            delivered_sender(achieved),
            worker.lag,
            lambda: settled_view(worker),
        ),
        feed=AchievementFeed(settings.aiokafka_kwargs(), achieved.get_topic_name()),
    )


def settled_view(worker: Pipeline) -> set[int] | None:
    """The aggregate partitions owned here, once the view holds what the last rebalance moved (None before)."""
    owned = worker.settled_aggregate_partitions()
    if owned is None or not worker.takeover.settled(worker.aggregate_stage.applied, owned):
        return None
    return owned

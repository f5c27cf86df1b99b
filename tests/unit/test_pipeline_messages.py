"""The agents' message handling without a broker: internal messages of another version and nudges are
skipped without touching state, and a partition's snapshot version never goes backwards."""

from __future__ import annotations

import logging

import pytest

from agents.pipeline import Pipeline
from streams.app import create_app
from streams.settings import load_settings


@pytest.fixture
def pipeline() -> Pipeline:
    settings = load_settings(kafka_bootstrap="127.0.0.1:1", topic_prefix="unit.")
    return Pipeline(settings, create_app(settings))


def test_foreign_messages_and_nudges_change_nothing(pipeline: Pipeline, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="agents.pipeline"):
        pipeline.entity_stage.apply(0, 5, {"e": {}, "k": "L1", "t": "x", "x": 1})  # the first session's format
        pipeline.entity_stage.apply(0, 6, {"e": {}, "k": "L2", "t": "x", "x": 1})
        pipeline.aggregate_stage.apply(1, 3, {"b": [], "f": 1, "p": 0, "r": "r", "t": "t"})
        pipeline.entity_stage.apply(2, 9, {"nudge": True})
        pipeline.aggregate_stage.apply(2, 4, {"nudge": True})
    skipped = [r.getMessage() for r in caplog.records if "another version" in r.getMessage()]
    assert len(skipped) == 2  # once per partition
    assert "unit.salesfloor-entities[0], the first at offset 5" in skipped[0]
    assert not pipeline.entity_state.data and not pipeline.aggregate_state.data
    assert not pipeline.entity_state.dirty and not pipeline.aggregate_state.dirty


def test_a_replayed_message_does_not_lower_the_version(pipeline: Pipeline) -> None:
    pipeline.entity_stage.apply(0, 10, {"b": []})
    pipeline.entity_stage.apply(0, 7, {"b": []})  # Faust replays from the committed offset after a rebalance
    assert pipeline.entity_stage.versions[0] == 10
    pipeline.entity_stage.apply(0, 11, {"b": []})
    assert pipeline.entity_stage.versions[0] == 11

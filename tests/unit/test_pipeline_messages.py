"""The agents' message handling without a broker: internal messages of another version and nudges are
skipped without touching state, a partition's snapshot version never goes backwards, and a change read
back survives a rebuild."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import orjson
import pytest

from agents.entities.state import compact
from agents.kpis.model import LIVE, UNASSIGNED, CompactEvent
from agents.kpis.response import AWAITING
from agents.pipeline import Pipeline
from agents.routing import entity_partition
from streams.app import create_app
from streams.records import decode_event
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


def lead_event(kind: str, event_id: str, minute: int, **fields: str) -> CompactEvent:
    at = datetime(2026, 12, 7, 9, minute, tzinfo=timezone.utc).isoformat()
    raw = {"event_id": event_id, "type": kind, "occurred_at": at, "team_id": "t1", "lead_id": "l1", **fields}
    return compact(decode_event(orjson.dumps(raw)))


def ship(pipeline: Pipeline) -> None:
    """What the ship timer sends, applied by the aggregate stage as Kafka would hand it over."""
    for target, snapshots in pipeline.entity_stage.outgoing({0, 1, 2, 3}, 4).items():
        pipeline.aggregate_stage.apply(target, 0, orjson.loads(orjson.dumps({"s": snapshots})))


def test_a_change_read_back_and_then_rebuilt_reaches_the_aggregates(pipeline: Pipeline) -> None:
    """A message read back after later ones (streams/kafka/gaps.py) changes its lead at the partition's
    version, not at its own offset: rebuilt before the next ship, the emptied `_unassigned` bucket goes out
    with a version the aggregates take (at the message's offset, 7, they ignored it: 10 was shipped)."""
    stage, partition = pipeline.entity_stage, entity_partition("Ll1", 4)
    created, assigned = lead_event("lead.created", "e1", 0), lead_event("lead.assigned", "e2", 5, rep_id="r1")
    stage.apply(partition, 10, {"b": [["Ll1", created, "leads", True]]})
    ship(pipeline)
    awaiting = ("t1", UNASSIGNED)
    assert pipeline.view.buckets[awaiting][LIVE] == {AWAITING: 1}
    stage.apply(partition, 7, {"b": [["Ll1", assigned, "leads", True]]})  # read back
    stage.rebuild({0, 1, 2, 3})  # a rebalance that keeps the partition, before the ship
    ship(pipeline)
    assert pipeline.view.buckets[awaiting][LIVE] == {}
    assert pipeline.view.buckets[("t1", "r1")][LIVE][AWAITING] == 1


async def test_a_commit_ships_what_the_state_changed_as_it_is_flushed(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state's flush ships what changed as it takes the dirty keys (`flush_tables`' `first`, whose
    sends it has acknowledged before writing): a commit never covers a change that was not shipped. While
    rebalancing, neither."""
    order: list[str] = []

    async def flush_tables(producer: object, tables: object, stopping: object, first: Callable[[], object]) -> int:
        order.append("take")
        first()
        order.append("write")
        return 1

    def send_soon(*, key: object, value: dict[str, list[Any]], partition: int) -> asyncio.Future[None]:
        order.extend(f"ship {snapshot[2]}/{snapshot[3]}/{snapshot[4]}" for snapshot in value["s"])
        return asyncio.get_running_loop().create_future()

    monkeypatch.setattr("agents.pipeline.flush_tables", flush_tables)
    monkeypatch.setattr("agents.pipeline.aiokafka_producer", lambda app: None)
    monkeypatch.setattr(pipeline.aggregate_topic, "send_soon", send_soon)
    monkeypatch.setattr(pipeline, "_entity_partitions", lambda: {0, 1, 2, 3})
    created = lead_event("lead.created", "e1", 0)
    pipeline.entity_stage.apply(entity_partition("Ll1", 4), 3, {"b": [["Ll1", created, "leads", True]]})
    await pipeline.gate.revoked()
    assert await pipeline.before_commit() is False
    assert order == []
    pipeline.gate.assigned()
    assert await pipeline.before_commit() is True
    assert order[0] == "take" and order[-1] == "write"
    assert f"ship t1/{UNASSIGNED}/{LIVE}" in order


async def test_a_ship_that_is_not_delivered_goes_out_again(pipeline: Pipeline) -> None:
    """Its buckets' dirty marks were taken: without another ship they would wait for their next change."""
    stage, everything = pipeline.entity_stage, {0, 1, 2, 3}
    created = lead_event("lead.created", "e1", 0)
    stage.apply(entity_partition("Ll1", 4), 3, {"b": [["Ll1", created, "leads", True]]})
    messages: list[tuple[asyncio.Future[None], list[Any]]] = []

    def send(*, key: object, value: dict[str, list[Any]], partition: int) -> asyncio.Future[None]:
        messages.append((asyncio.get_running_loop().create_future(), value["s"]))
        return messages[-1][0]

    assert stage.ship(everything, 4, send)
    shipped = sorted(snapshot[2:5] for _, snapshots in messages for snapshot in snapshots)
    assert (created["T"], UNASSIGNED, LIVE) in shipped
    assert stage.outgoing(everything, 4) == {}  # taken
    messages[0][0].set_result(None)  # delivered
    for future, _ in messages[1:]:
        future.set_exception(ConnectionError("broker away"))
    await asyncio.sleep(0)
    again = sorted(snapshot[2:5] for snapshots in stage.outgoing(everything, 4).values() for snapshot in snapshots)
    assert again == sorted(snapshot[2:5] for _, snapshots in messages[1:] for snapshot in snapshots)
    assert len(messages) > 1 and again

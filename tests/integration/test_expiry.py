"""Windows leave the retention and the history on the wall clock: idle entities are deleted from the
tables (tombstones in the changelogs), a day's buckets are folded into their month's rollup and
deleted, and all of it stays so after a restart."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from agents.routing import SEP
from streams.kafka.read_to_end import read_to_end
from tests.integration.floor import produce_values
from tests.integration.workers import Worker, worker_env


def created_on(worker: Worker, team: str, day: str) -> float | None:
    """Leads created that day, or None when the day is no longer kept (404 naming the kept span)."""
    status, document = worker.api(f"/api/kpis?team={team}&date={day}&window=today")
    if status == 404:
        assert f"date {day} is not kept: days from " in document["error"], document
        return None
    assert status == 200, document
    return float(document["windows"].get("today", {}).get("leads_created", 0))


async def changelog(bootstrap: str, prefix: str) -> dict[str, Any]:
    """The aggregates changelog's last value of each key (None: a tombstone)."""
    out: dict[str, Any] = {}
    topic = f"{prefix}salesfloor-aggregates-changelog"
    async for _, records in read_to_end({"bootstrap_servers": bootstrap}, topic):
        for record in records:
            out[orjson.loads(record.key)] = None if record.value is None else orjson.loads(record.value)
    return out


def created_in(worker: Worker, team: str, month: str) -> float:
    """Leads created that month: its days still kept and its rollup (each day counted once)."""
    status, document = worker.api(f"/api/kpis?team={team}&month={month}")
    assert status == 200, document
    return float(document["windows"]["month"].get("leads_created", 0))


async def test_a_day_past_the_retention_is_deleted(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    midnight = datetime.combine((now - timedelta(days=39)).date(), datetime.min.time(), timezone.utc)
    old_day = (midnight - timedelta(days=1)).date().isoformat()
    retention = (now - midnight + timedelta(seconds=40)).total_seconds()  # the cutoff passes midnight in 40 s
    stamp = (midnight - timedelta(seconds=5)).isoformat().replace("+00:00", "Z")
    base = {"occurred_at": stamp, "team_id": "old", "rep_id": "ann", "lead_id": "L1"}
    values = [
        orjson.dumps({**base, "event_id": "e1", "type": "lead.created"}),
        orjson.dumps(
            {
                **base,
                "event_id": "e2",
                "type": "call.completed",
                "call_id": "c1",
                "direction": "outbound",
                "outcome": "connected",
                "duration_s": 30,
            }
        ),
    ]
    env = worker_env(
        kafka_bootstrap,
        topic_prefix,
        SALESFLOOR_RETENTION_DAYS=str(retention / 86400),
        SALESFLOOR_HISTORY_DAYS=str(retention / 86400),
        SALESFLOOR_EXPIRY_INTERVAL_SECONDS="2",
    )
    rollup = SEP.join(("old", "ann", "M" + old_day[:7]))
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        worker.wait_ready()
        await produce_values(values, kafka_bootstrap, topic_prefix)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if created_on(worker, "old", old_day) == 1:
                break
            await asyncio.sleep(0.5)
        assert created_on(worker, "old", old_day) == 1
        assert worker.health()["entities"] == 1
        assert created_in(worker, "old", old_day[:7]) == 1

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if created_on(worker, "old", old_day) is None and worker.health()["entities"] == 0:
                break
            await asyncio.sleep(1)
        assert created_on(worker, "old", old_day) is None
        assert worker.health()["entities"] == 0
        for _ in range(30):  # the next expiry round folds the day into its month
            if (await changelog(kafka_bootstrap, topic_prefix)).get(rollup):
                break
            await asyncio.sleep(1)
        records = await changelog(kafka_bootstrap, topic_prefix)
        assert records[rollup]["rollup"][2] == ["d" + old_day]
        assert records[SEP.join(("old", "ann", "d" + old_day))] is None  # the day's tombstone
        assert created_in(worker, "old", old_day[:7]) == 1  # the rollup, and no day bucket beside it

        worker.stop()
        worker.start()
        worker.wait_ready()
        assert created_on(worker, "old", old_day) is None
        assert worker.health()["entities"] == 0
        assert created_in(worker, "old", old_day[:7]) == 1
        assert created_in(worker, "_all", old_day[:7]) == 1
        assert created_on(worker, "_all", old_day) is None
    finally:
        worker.stop()

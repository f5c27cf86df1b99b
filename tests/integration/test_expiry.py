"""Windows leave the retention on the wall clock: their buckets and idle entities are deleted from the
tables (tombstones in the changelogs), and stay gone after a restart."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from tests.integration.floor import produce_values
from tests.integration.workers import Worker, worker_env


def created_on(worker: Worker, team: str, day: str) -> float:
    status, document = worker.api(f"/api/kpis?team={team}&date={day}&window=today")
    assert status == 200, document
    return float(document["windows"].get("today", {}).get("leads_created", 0))


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
        SALESFLOOR_EXPIRY_INTERVAL_SECONDS="2",
    )
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

        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if created_on(worker, "old", old_day) == 0 and worker.health()["entities"] == 0:
                break
            await asyncio.sleep(1)
        assert created_on(worker, "old", old_day) == 0
        assert worker.health()["entities"] == 0

        worker.stop()
        worker.start()
        worker.wait_ready()
        assert created_on(worker, "old", old_day) == 0
        assert worker.health()["entities"] == 0
        assert created_on(worker, "_all", old_day) == 0
    finally:
        worker.stop()

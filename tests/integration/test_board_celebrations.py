"""Achievements on the board, end to end, on a locked web port: a worker with `SALESFLOOR_WEB_TOKEN`, the
board opened in real Chromium (1920x1080) at `/?team=…&token=…` (without the token the page is refused);
a rep's calls cross her day target's milestones, the worker announces `goal.reached` on the achievements
topic, and the board shows each one in a banner within 2 s of its reaching the broker, once."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.async_api import async_playwright

from tests.integration.floor import produce_values, read_topic
from tests.integration.test_wallboard import BANNER_LOG, CHROMIUM, CHROMIUM_ARGS, shows
from tests.integration.workers import Worker, worker_env

pytestmark = pytest.mark.timing  # each goal on the board within 2 s

TOKEN = "0123456789abcdef" * 3  # noqa: S105 - the test's own token
TEAM = "team-gold"
BUDGET_S = 2.0


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def call(n: int, at: datetime) -> bytes:
    return orjson.dumps({"event_id": f"gold-call-{n}", "type": "call.completed", "occurred_at": stamp(at),
                         "team_id": TEAM, "rep_id": "ann", "call_id": f"gold-{n}", "direction": "outbound",
                         "outcome": "connected", "duration_s": 30})  # fmt: skip


async def achievements(bootstrap: str, topic: str) -> list[tuple[str, dict[str, Any], float]]:
    """(id as the board names it, the achievement, when it reached the broker)."""
    return [
        (f"{r.partition}:{r.offset}", orjson.loads(r.value), r.timestamp / 1000)
        for r in await read_topic(bootstrap, topic)
    ]


async def test_the_board_celebrates_each_goal_within_2_s_once_behind_a_token(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    assert os.access(CHROMIUM, os.X_OK), f"no {CHROMIUM}: run `bash deploy/setup-system.sh` (Debian chromium)"
    worker = Worker(worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_WEB_TOKEN=TOKEN), tmp_path / "w.log")
    worker.start()
    topic = topic_prefix + "achievements"
    try:
        worker.wait_ready()
        now = datetime.now(timezone.utc)
        target = {"event_id": "gold-target", "type": "target.set", "occurred_at": stamp(now - timedelta(hours=1)),
                  "team_id": TEAM, "rep_id": "ann", "period": now.date().isoformat(), "metric": "calls_outbound",
                  "value": 4}  # fmt: skip
        await produce_values([orjson.dumps(target), call(1, now - timedelta(minutes=9))], kafka_bootstrap, topic_prefix)

        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                refused = await page.goto(f"http://127.0.0.1:{worker.port}/?team={TEAM}")
                assert refused is not None and refused.status == 401
                opened = await page.goto(f"http://127.0.0.1:{worker.port}/?team={TEAM}&token={TOKEN}")
                assert opened is not None and opened.status == 200
                await page.wait_for_function("() => document.body.dataset.state === 'live'", timeout=30_000)
                await page.evaluate(BANNER_LOG)
                await page.wait_for_function(
                    "() => document.querySelector('[data-kpi=\"calls\"]').textContent.trim() === '1'", timeout=15_000
                )  # the stream (with ?token=) brings the first call
                assert await achievements(kafka_bootstrap, topic) == []  # 1 of 4: nothing reached yet

                await produce_values([call(2, now - timedelta(minutes=5))], kafka_bootstrap, topic_prefix)  # 50 %
                await page.wait_for_function(
                    "() => window.__banners.some((b) => !b.hidden && b.type === 'goal.reached')", timeout=30_000
                )
                await page.wait_for_function(  # the banner is free again (a busy one queues the next: 5 s each)
                    "() => document.querySelector('[data-kpi=\"celebrate\"]').hidden", timeout=30_000
                )
                await produce_values(
                    [call(3, now - timedelta(minutes=3)), call(4, now - timedelta(minutes=2))],
                    kafka_bootstrap,
                    topic_prefix,
                )  # 100 %
                await page.wait_for_function(
                    "() => window.__banners.filter((b) => !b.hidden && b.type === 'goal.reached').length >= 2",
                    timeout=30_000,
                )
                await asyncio.sleep(12)  # both banners over, and nothing shown again
                seen = [s for s in shows(await page.evaluate("window.__banners")) if s["type"] == "goal.reached"]
                announced = await achievements(kafka_bootstrap, topic)
                assert sorted(a["milestone"] for _, a, _ in announced) == [0.5, 1.0], announced
                assert sorted(s["id"] for s in seen) == sorted(i for i, _, _ in announced), (seen, announced)
                for ident, achievement, appended in announced:
                    (showing,) = [s for s in seen if s["id"] == ident]  # once
                    assert showing["start"] / 1000 - appended <= BUDGET_S, (ident, showing, appended)
                    assert achievement["rep_id"] == "ann" and "ann" in showing["rep"].lower(), showing
                    assert showing["end"] is not None
            finally:
                await browser.close()
    finally:
        worker.stop()

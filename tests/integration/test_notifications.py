"""Alert notifications on the real broker (SPEC §5): a webhook that refuses connections, then answers
503, then comes up gets every alert once per Idempotency-Key, also when the worker is killed (SIGKILL)
during the outage and restarted; a worker killed and restarted after the delivery sends nothing again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.floor import produce_values
from tests.integration.workers import Worker, free_port, worker_env

THRESHOLDS = (4, 8)
REFUSES_S = 15.0  # from the first leads: nothing listens
UNAVAILABLE_S = 30.0  # then 503 until this long after the first leads


def lead(lead_id: str, created: datetime) -> bytes:
    return orjson.dumps(
        {
            "event_id": f"c-{lead_id}",
            "type": "lead.created",
            "occurred_at": created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "team_id": "north",
            "rep_id": "ann",
            "lead_id": lead_id,
        }
    )


def keys(*lead_ids: str) -> set[str]:
    return {f"{lead_id}:{threshold}" for lead_id in lead_ids for threshold in THRESHOLDS}


class Webhook:
    """A local receiver: refuses until `listen()`, answers 503 until `up`, then 200."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.up = False
        self.requests: list[tuple[str, dict[str, Any], int]] = []  # key, body, status
        self.runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        status = 200 if self.up else 503
        self.requests.append((request.headers.get("Idempotency-Key", ""), await request.json(), status))
        return web.Response(status=status)

    async def listen(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def delivered(self) -> Counter[str]:
        return Counter(key for key, _, status in self.requests if status == 200)


def notifications(text: str, result: str) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "salesfloor_alert_notifications_total" and s.labels == {"route": "default", "result": result}
    )


async def wait_for(condition: Callable[[], bool], within: float, what: str, worker: Worker) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {within:.0f} s\n{worker.log_tail()}"
        await asyncio.sleep(0.5)


async def test_every_alert_once_through_an_outage_and_a_crash(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    hook = Webhook()
    env = worker_env(
        kafka_bootstrap,
        topic_prefix,
        SALESFLOOR_ALERT_THRESHOLDS=",".join(map(str, THRESHOLDS)),
        SALESFLOOR_ALERT_WEBHOOK_URL=hook.url,
    )
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        await asyncio.to_thread(worker.wait_ready)  # the receiver shares this loop: never block it
        t0 = time.monotonic()
        await produce_values(
            [lead(f"a{i}", datetime.now(timezone.utc)) for i in range(4)], kafka_bootstrap, topic_prefix
        )
        await asyncio.sleep(max(THRESHOLDS) + 2)  # every alert of the a-leads is out, none delivered
        worker.kill()
        worker.start()
        await produce_values(
            [lead(f"b{i}", datetime.now(timezone.utc)) for i in range(2)], kafka_bootstrap, topic_prefix
        )
        await asyncio.sleep(max(0.0, REFUSES_S - (time.monotonic() - t0)))
        await hook.listen()
        assert hook.delivered() == Counter()
        await asyncio.sleep(max(0.0, UNAVAILABLE_S - (time.monotonic() - t0)))
        hook.up = True
        expected = keys("a0", "a1", "a2", "a3", "b0", "b1")
        await wait_for(lambda: set(hook.delivered()) >= expected, 150, "every notification", worker)
        await asyncio.sleep(3)  # a repeat would come now

        assert hook.delivered() == Counter({key: 1 for key in expected}), hook.requests
        assert {key for key, _, _ in hook.requests} == expected  # failed attempts too: only these keys
        assert any(status == 503 for _, _, status in hook.requests)
        body = next(body for key, body, status in hook.requests if key == "a0:4" and status == 200)
        assert body["text"] == "Lead a0 waiting 4 s for team North (ann)" and body["lead_id"] == "a0", body
        assert body["threshold_s"] == 4 and body["clock"] == "wall" and body["type"] == "lead.response_sla_breached"
        text = await asyncio.to_thread(worker.metrics)
        assert notifications(text, "delivered") == len(expected) and notifications(text, "retried") >= 1
        assert notifications(text, "failed") == 0

        # the state survives a crash: a restarted worker sends only what is new
        before = len(hook.requests)
        worker.kill()
        worker.start()
        await asyncio.to_thread(worker.wait_ready)
        await produce_values([lead("c0", datetime.now(timezone.utc))], kafka_bootstrap, topic_prefix)
        await wait_for(lambda: set(hook.delivered()) >= keys("c0"), 90, "the notifications after the restart", worker)
        await asyncio.sleep(3)
        assert Counter(key for key, _, _ in hook.requests[before:]) == Counter({key: 1 for key in keys("c0")})
        assert "ALERT NOT NOTIFIED" not in worker.log_path.read_text(errors="replace")
    finally:
        worker.stop()
        await hook.close()

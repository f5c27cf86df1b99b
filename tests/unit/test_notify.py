"""Alert notifications (SPEC §5) against a local HTTP receiver: the payload, its text and key, routing by
team, the backoff schedule, no loss and no repeat across a receiver outage and a restart, independent
routes, and the start-up checks of the two settings."""

from __future__ import annotations

import asyncio
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from agents.alerts.notify import BACKOFF_CAP_S, Notifier, backoff_s, duration, headline, http_poster, team_name
from agents.export.ops_metrics import OpsMetrics
from streams.errors import ConfigError
from streams.settings import load_settings
from streams.topics import internal_topics

NOW = datetime.now(timezone.utc)
ENABLED = NOW - timedelta(minutes=1)


def alert(lead: str = "L-1", team: str = "team-north", threshold: int = 300, **extra: Any) -> dict[str, Any]:
    return {
        "type": "lead.response_sla_breached",
        "event_id": f"sla-{threshold}-{lead}",
        "lead_id": lead,
        "team_id": team,
        "rep_id": "rep-north-03",
        "created_at": (NOW - timedelta(seconds=threshold)).isoformat(),
        "threshold_s": threshold,
        "detected_at": NOW.isoformat(),
        "clock": "wall",
        "waited_s": float(threshold),
        **extra,
    }


@dataclass
class Receiver:
    """A webhook: answers `status` (or what `answer` says per request), after `delay` seconds."""

    url: str = ""
    status: int = 200
    delay: float = 0.0
    answer: Callable[[int], int] | None = None  # request number → status
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[dict[str, str], dict[str, Any], int]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.answer(len(self.requests)) if self.answer else self.status
        self.requests.append((dict(request.headers), await request.json(), status))
        return web.Response(status=status, headers=self.headers)

    def delivered(self) -> Tally[str]:
        return Tally(headers["Idempotency-Key"] for headers, _, status in self.requests if status == 200)


@asynccontextmanager
async def receivers(n: int = 1) -> AsyncIterator[list[Receiver]]:
    found = [Receiver() for _ in range(n)]
    runners = []
    try:
        for receiver in found:
            app = web.Application()
            app.router.add_post("/hook", receiver.handle)
            runner = web.AppRunner(app)
            await runner.setup()
            runners.append(runner)
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            receiver.url = f"http://{host}:{port}/hook"
        yield found
    finally:
        for runner in runners:
            await runner.cleanup()


@dataclass
class Floor:
    """A notifier on a fresh registry, its state in a dict (the state topic), running until the block ends."""

    routes: dict[str, str]
    session: aiohttp.ClientSession
    state: dict[str, dict[str, str]] = field(default_factory=dict)
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.metrics = OpsMetrics.create(self.registry)

    def notifier(self, **options: Any) -> Notifier:
        async def record(key: str, value: dict[str, str]) -> None:
            self.state[key] = value

        options.setdefault("sleep", lambda _s: asyncio.sleep(0.01))
        notifier = Notifier(self.routes, self.metrics.notifications, record, http_poster(self.session), **options)
        for key, value in self.state.items():  # what a restarted worker reads back
            notifier.restore(key.encode(), orjson.dumps(value))
        return notifier

    def count(self, route: str, result: str) -> float:
        return (
            self.registry.get_sample_value("salesfloor_alert_notifications_total", {"route": route, "result": result})
            or 0.0
        )


@asynccontextmanager
async def running(notifier: Notifier) -> AsyncIterator[Notifier]:
    await notifier.enable_routes(ENABLED)
    task = asyncio.ensure_future(notifier.run())
    try:
        yield notifier
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@asynccontextmanager
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
        yield client


async def until(condition: Callable[[], bool], within: float = 10) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize(
    ("seconds", "business", "text"),
    [
        (300, False, "5 min"),
        (3600, False, "1 h"),
        (5400, False, "90 min"),
        (4, False, "4 s"),
        (300, True, "5 business min"),
    ],
)
def test_thresholds_read_as_a_manager_says_them(seconds: int, business: bool, text: str) -> None:
    assert duration(seconds, business) == text


def test_the_text_line() -> None:
    assert headline(alert()) == "Lead L-1 waiting 5 min for team North (rep-north-03)"
    business = alert(threshold=3600, clock="business", rep_id=None, team_id="emea_inside-sales")
    assert headline(business) == "Lead L-1 waiting 1 business h for team Emea Inside Sales (unassigned)"
    assert headline(alert(lead="<!channel>")).startswith("Lead &lt;!channel&gt; waiting")  # pings no one
    assert team_name("north") == "North" and team_name("team_NL-2") == "NL 2"


async def test_payload_text_and_idempotency_key() -> None:
    async with receivers() as [hook], session() as client:
        floor = Floor({"*": hook.url}, client)
        async with running(floor.notifier()) as notifier:
            notifier.offer(alert(), partition=0)
            await until(lambda: floor.count("default", "delivered") == 1)
        headers, body, _ = hook.requests[0]
        assert body == {**alert(), "text": "Lead L-1 waiting 5 min for team North (rep-north-03)"}
        assert headers["Idempotency-Key"] == "L-1:300" and headers["Content-Type"] == "application/json"
        assert floor.state["default|L-1:300"]["status"] == "delivered"
        assert floor.count("default", "retried") == floor.count("default", "failed") == 0


async def test_routes_by_team_with_the_default_for_others() -> None:
    async with receivers(2) as [north, other], session() as client:
        floor = Floor({"team-north": north.url, "*": other.url}, client)
        async with running(floor.notifier()) as notifier:
            notifier.offer(alert("n1"), partition=0)
            notifier.offer(alert("s1", team="team-south"), partition=1)
            await until(lambda: len(north.requests) + len(other.requests) == 2)
        assert north.delivered() == Tally({"n1:300": 1}) and other.delivered() == Tally({"s1:300": 1})
        assert floor.count("team-north", "delivered") == floor.count("default", "delivered") == 1


async def test_without_a_default_route_other_teams_are_not_sent() -> None:
    async with receivers() as [north], session() as client:
        floor = Floor({"team-north": north.url}, client)
        async with running(floor.notifier()) as notifier:
            notifier.offer(alert("s1", team="team-south"), partition=0)
            notifier.offer(alert("n1"), partition=0)
            await until(lambda: floor.count("team-north", "delivered") == 1)
        assert north.delivered() == Tally({"n1:300": 1})


def test_backoff_doubles_from_one_second_to_five_minutes_with_jitter() -> None:
    assert [backoff_s(n, 0.0) for n in range(1, 12)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert backoff_s(3, 0.5) == 3.0 and backoff_s(40, 0.999) > BACKOFF_CAP_S / 2


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_a_dead_webhook_is_retried_for_an_hour_then_counted_failed(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()
    async with receivers() as [hook], session() as client:
        hook.status = 503
        floor = Floor({"*": hook.url}, client)
        async with running(floor.notifier(clock=fake.clock, sleep=fake.sleep, jitter=lambda: 0.0)) as notifier:
            notifier.offer(alert(), partition=0)
            await until(lambda: floor.count("default", "failed") == 1)
        assert fake.slept[:10] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300] and set(fake.slept[10:]) == {300}
        assert sum(fake.slept) >= 3600 > sum(fake.slept[:-1])  # at least an hour, and not much more
        assert len(hook.requests) == len(fake.slept) + 1 == floor.count("default", "retried") + 1
        assert floor.state["default|L-1:300"]["status"] == "gave_up"
        assert "ALERT NOT NOTIFIED" in caplog.text and "L-1:300" in caplog.text and hook.url not in caplog.text


async def test_retry_after_is_honoured_and_a_rejection_is_not_retried() -> None:
    fake = FakeTime()
    async with receivers() as [hook], session() as client:
        hook.answer = lambda n: 429 if n == 0 else 400
        hook.headers = {"Retry-After": "7"}
        floor = Floor({"*": hook.url}, client)
        async with running(floor.notifier(clock=fake.clock, sleep=fake.sleep, jitter=lambda: 0.0)) as notifier:
            notifier.offer(alert(), partition=0)
            await until(lambda: floor.count("default", "failed") == 1)
        assert fake.slept == [7] and len(hook.requests) == 2


async def test_a_webhook_down_then_up_gets_every_alert_once_also_across_a_restart() -> None:
    alerts = [alert(f"L-{i}", threshold=t) for i in range(6) for t in (300, 3600)]
    async with receivers() as [hook], session() as client:
        first_run = True

        def answer(n: int) -> int:  # down for five attempts, up for four alerts, down until the restart
            delivered = sum(hook.delivered().values())
            return 503 if n < 5 or (first_run and delivered >= 4) else 200

        hook.answer = answer
        floor = Floor({"*": hook.url}, client)
        async with running(floor.notifier()) as first:
            for a in alerts[:8]:
                first.offer(a, partition=0)
            await until(lambda: floor.count("default", "delivered") == 4)
        first_run = False
        async with running(floor.notifier()) as second:  # offered the whole alerts topic again
            for a in alerts:
                second.offer(a, partition=0)
            await until(lambda: floor.count("default", "delivered") == len(alerts))
            await asyncio.sleep(0.2)
        assert hook.delivered() == Tally({f"{a['lead_id']}:{a['threshold_s']}": 1 for a in alerts})
        assert {headers["Idempotency-Key"] for headers, _, _ in hook.requests} == set(hook.delivered())
        failed_attempts = len(hook.requests) - len(alerts)  # one may have been cut short by the stop: not counted
        assert failed_attempts - 1 <= floor.count("default", "retried") <= failed_attempts
        assert [v["status"] for k, v in floor.state.items() if ":" in k] == ["delivered"] * len(alerts)


async def test_a_slow_route_does_not_delay_another() -> None:
    async with receivers(2) as [slow, fast], session() as client:
        slow.delay = 3.0
        floor = Floor({"team-north": slow.url, "*": fast.url}, client)
        async with running(floor.notifier()) as notifier:
            for i in range(3):
                notifier.offer(alert(f"n{i}"), partition=0)
            started = time.monotonic()
            for i in range(3):
                notifier.offer(alert(f"s{i}", team="team-south"), partition=0)
            await until(lambda: len(fast.requests) == 3, within=2.5)
            assert time.monotonic() - started < 1.0 and slow.requests == []


async def test_alerts_before_the_route_existed_moved_partitions_and_repeats_are_not_sent() -> None:
    async with receivers() as [hook], session() as client:
        floor = Floor({"*": hook.url}, client)
        async with running(floor.notifier(sleep=lambda _s: asyncio.sleep(0.3))) as notifier:
            notifier.offer(alert("old", detected_at=(ENABLED - timedelta(seconds=1)).isoformat()), partition=0)
            hook.status = 503
            notifier.offer(alert("moved"), partition=1)
            await until(lambda: len(hook.requests) == 1)
            notifier.drop([1])  # another worker took partition 1 over
            notifier.offer(alert("kept"), partition=2)
            notifier.offer(alert("kept"), partition=2)
            hook.status = 200
            await until(lambda: floor.count("default", "delivered") == 1)
            await asyncio.sleep(0.5)
        assert hook.delivered() == Tally({"kept:300": 1}) and len(hook.requests) == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the routes file"),
        ("{team-north: 1}", "not JSON"),
        ('["https://x"]', "expected a JSON object"),
        ("{}", "expected a JSON object"),
        ('{"team-north": 42}', "must be a string, got int"),
        ('{"*": "ftp://hooks.example/x"}', "scheme 'ftp'"),
        ('{"default": "https://hooks.example/x"}', "the default route is '\\*'"),
    ],
)
def test_a_bad_routes_file_stops_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, message: str
) -> None:
    path = tmp_path / "routes.json"
    if content is not None:
        path.write_text(content)
    monkeypatch.setenv("SALESFLOOR_ALERT_ROUTES_FILE", str(path))
    with pytest.raises(ConfigError) as raised:
        load_settings()
    assert "SALESFLOOR_ALERT_ROUTES_FILE" in str(raised.value) and "\n" not in str(raised.value)
    assert raised.match(message)


@pytest.mark.parametrize("url", ["hooks.slack.com/services/T/B/secret", "ftp://h/secret", "https:///secret"])
def test_a_bad_webhook_url_stops_start_up_without_showing_it(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("SALESFLOOR_ALERT_WEBHOOK_URL", url)
    with pytest.raises(ConfigError, match="SALESFLOOR_ALERT_WEBHOOK_URL") as raised:
        load_settings()
    assert "secret" not in str(raised.value)


def test_routes_come_from_the_file_else_the_one_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SALESFLOOR_ALERT_WEBHOOK_URL", "SALESFLOOR_ALERT_ROUTES_FILE"):
        monkeypatch.delenv(name, raising=False)
    off = load_settings(topic_prefix="u.")
    assert off.alert_routes() == {} and "u.salesfloor-notifications" not in internal_topics(off)
    one = load_settings(topic_prefix="u.", alert_webhook_url="https://hooks.example/a")
    assert one.alert_routes() == {"*": "https://hooks.example/a"} and "hooks" not in repr(one)
    assert internal_topics(one)["u.salesfloor-notifications"] == {"cleanup.policy": "compact"}
    path = tmp_path / "routes.json"
    path.write_text('{"team-north": "https://hooks.example/n", "*": "http://127.0.0.1:9/d"}')
    both = load_settings(alert_webhook_url="https://hooks.example/a", alert_routes_file=str(path))
    assert both.alert_routes() == {"team-north": "https://hooks.example/n", "*": "http://127.0.0.1:9/d"}

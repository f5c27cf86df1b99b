"""Alert notifications (SPEC §5): every alert on the alerts topic POSTed once to its team's webhook.

The notifier follows the alerts topic itself, in a consumer group of its own (with several workers each
alert has one notifier), and records each outcome in a compacted state topic keyed `route|lead:threshold`.
After every assignment it reads that topic to its end, then re-reads its alerts partitions from the
start: what is not recorded is (re)sent, always with the same `Idempotency-Key`. Each route has its own
queue and task, and nothing in the pipeline waits on them: a dead webhook delays no KPI and no other team.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from prometheus_client import Counter

from streams.kafka.read_to_end import read_to_end
from streams.settings import Settings
from streams.topics import NOTIFICATIONS, internal_topic_name, topic_name

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 1.0
BACKOFF_CAP_S = 300.0
GIVE_UP_AFTER_S = 3600.0  # a notification is retried at least this long, then counted as failed
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=5)
RETRYABLE = frozenset({408, 425, 429})  # and every 5xx; other non-2xx answers will not change by retrying
RESTART_S = 5.0
STATE_READ_TIMEOUT_S = 60.0
DEFAULT = "default"  # the route label of `*` (and of the one URL)
RESULTS = ("delivered", "retried", "failed")

Post = Callable[[str, bytes, dict[str, str]], Awaitable[tuple[int, float | None]]]  # status, Retry-After
Record = Callable[[str, dict[str, str]], Awaitable[None]]  # state key, value: returns once durable


def backoff_s(failures: int, jitter: float) -> float:
    """The wait after `failures` failed attempts in a row: 1 s doubling up to 5 min, shortened by up to
    half at random (`jitter` in [0, 1)) so that routes that failed together do not retry together."""
    return min(BACKOFF_CAP_S, BACKOFF_FIRST_S * 2.0 ** min(failures - 1, 20)) * (1 - jitter / 2)


def duration(seconds: int, business: bool) -> str:
    """`300` → "5 min", `3600` → "1 h", `90` → "90 s"; "5 business min" on a business clock."""
    value, unit = next(
        (seconds // size, unit) for size, unit in ((3600, "h"), (60, "min"), (1, "s")) if seconds % size == 0
    )
    return f"{value} business {unit}" if business else f"{value} {unit}"


def team_name(team_id: str) -> str:
    """`team-north` → "North": the id a manager would say."""
    name = team_id.removeprefix("team-").removeprefix("team_") or team_id
    return " ".join(word[:1].upper() + word[1:] for word in name.replace("_", "-").split("-") if word) or team_id


def slack_escape(text: str) -> str:
    """Slack reads `<...>` as links and mentions (`<!channel>`): ids from the input must not ping anyone."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def headline(alert: Mapping[str, Any]) -> str:
    """E.g. "Lead L-1 waiting 5 min for team North (rep-north-03)"."""
    waited = duration(int(alert["threshold_s"]), alert.get("clock") == "business")
    rep = alert.get("rep_id") or "unassigned"
    return slack_escape(f"Lead {alert['lead_id']} waiting {waited} for team {team_name(str(alert['team_id']))} ({rep})")


def idempotency_key(alert: Mapping[str, Any]) -> str:
    """`<lead_id>:<threshold_s>`, percent-encoded only where a lead id is not printable ASCII."""
    key = f"{alert['lead_id']}:{alert['threshold_s']}"
    return key if key.isascii() and key.isprintable() else quote(key, safe=":")


def request(alert: Mapping[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The Slack-compatible body (the alert's fields and a `text`) and the headers of one alert."""
    headers = {"Content-Type": "application/json", "Idempotency-Key": idempotency_key(alert)}
    return orjson.dumps({**alert, "text": headline(alert)}), headers


def http_poster(session: aiohttp.ClientSession) -> Post:
    async def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float | None]:
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as reply:
            await reply.read()
            retry_after = reply.headers.get("Retry-After", "")
            return reply.status, float(retry_after) if retry_after.isdigit() else None

    return post


def route_label(team: str) -> str:
    """The `route` label and state key part of a routes-file key: the team, or `default` for `*`."""
    return DEFAULT if team == "*" else team


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(slots=True)
class _Pending:
    key: str  # route|lead:threshold
    alert: dict[str, Any]
    partition: int  # of the alerts topic
    since: float  # clock() when first queued
    dropped: bool = False  # its partition moved to another worker


class Notifier:
    """The delivery state and one sender per route; Kafka-free (`follow_alerts` feeds it)."""

    def __init__(
        self,
        routes: Mapping[str, str],
        counter: Counter,
        record: Record,
        post: Post,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,  # noqa: S311 - spreads retries, no secret
        give_up_after_s: float = GIVE_UP_AFTER_S,
    ) -> None:
        self.counter, self.record, self.post = counter, record, post
        self.clock, self.sleep, self.jitter, self.give_up_after_s = clock, sleep, jitter, give_up_after_s
        self.done: set[str] = set()  # delivered or given up: never sent again
        self.pending: set[str] = set()  # queued or being sent
        self.enabled_at: dict[str, datetime] = {}  # alerts detected before a route existed are not sent to it
        self.senders = {route_label(team): _RouteSender(self, route_label(team), url) for team, url in routes.items()}
        self._unrouted: set[str] = set()
        for route in self.senders:
            for result in RESULTS:
                counter.labels(route, result)

    def restore(self, key: bytes | None, value: bytes | None) -> None:
        """Take one record of the state topic."""
        if key is None or value is None:
            return
        try:
            state, name = orjson.loads(value), key.decode()
            if "enabled_at" in state:  # `route|`: since when the route is on
                at, route = datetime.fromisoformat(state["enabled_at"]), name.removesuffix("|")
                self.enabled_at[route] = min(at, self.enabled_at.get(route, at))
            else:
                self.done.add(name)
        except (orjson.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a foreign record in the notification state: %r", key)

    async def enable_routes(self, at: datetime) -> None:
        """Routes without a start time start at `at` (the first start: old alerts are not sent)."""
        for route in self.senders:
            if route not in self.enabled_at:
                await self.record(f"{route}|", {"enabled_at": at.isoformat(timespec="milliseconds")})
                self.enabled_at[route] = at

    def offer(self, alert: dict[str, Any], partition: int) -> None:
        """Queue an alert for its route unless it was sent, is queued, or predates the route."""
        try:
            team, lead, threshold = str(alert["team_id"]), str(alert["lead_id"]), int(alert["threshold_s"])
            detected = datetime.fromisoformat(str(alert["detected_at"]))
            detected = detected if detected.tzinfo else detected.replace(tzinfo=timezone.utc)
        except (KeyError, TypeError, ValueError):
            log.warning("not an alert, not notified: %.200r", alert)
            return
        route = team if team in self.senders else DEFAULT if DEFAULT in self.senders else None
        if route is None:
            if team not in self._unrouted:
                self._unrouted.add(team)
                log.warning("no route for team %r (and no '*' route): its alerts are not notified", team)
            return
        key = f"{route}|{lead}:{threshold}"
        since = self.enabled_at.get(route)
        if key in self.done or key in self.pending or since is None or detected < since:
            return
        self.pending.add(key)
        self.senders[route].put(_Pending(key, alert, partition, self.clock()))

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the queued alerts of partitions another worker takes over (it sends them)."""
        moved = set(partitions)
        for sender in self.senders.values():
            sender.drop(moved)

    async def run(self) -> None:
        """Run every route's sender until cancelled."""
        await asyncio.gather(*(sender.run() for sender in self.senders.values()))


class _RouteSender:
    """One webhook: its queue, sent in order, and its backoff (the endpoint fails, not one alert)."""

    def __init__(self, notifier: Notifier, route: str, url: str) -> None:
        self.notifier, self.route, self.url = notifier, route, url
        self.queue: deque[_Pending] = deque()
        self.current: _Pending | None = None
        self.failures = 0  # failed attempts in a row
        self.last_error = ""
        self._wake = asyncio.Event()

    def put(self, item: _Pending) -> None:
        self.queue.append(item)
        self._wake.set()

    def drop(self, partitions: set[int]) -> None:
        for item in [*self.queue, *([self.current] if self.current else [])]:
            if item.partition in partitions:
                item.dropped = True
                self.notifier.pending.discard(item.key)
        self.queue = deque(item for item in self.queue if not item.dropped)

    async def run(self) -> None:
        while True:
            while not self.queue:
                self._wake.clear()
                await self._wake.wait()
            self.current = self.queue.popleft()
            try:
                await self._deliver(self.current)
            finally:
                self.current = None

    async def _deliver(self, item: _Pending) -> None:
        n = self.notifier
        body, headers = request(item.alert)
        attempts = 0
        while not item.dropped:
            attempts += 1
            outcome, retry_after = await self._attempt(body, headers)
            if outcome == "delivered":
                self.failures = 0
                await self._finish(item, "delivered", "delivered")
                return
            waited = n.clock() - item.since
            if outcome == "rejected" or waited >= n.give_up_after_s:
                log.error(
                    "ALERT NOT NOTIFIED: route %s gave up on %s after %d attempts in %.0f s (last: %s); not sent again",
                    self.route,
                    headers["Idempotency-Key"],
                    attempts,
                    waited,
                    self.last_error,
                )
                await self._finish(item, "gave_up", "failed")
                return
            self.failures += 1
            n.counter.labels(self.route, "retried").inc()
            await n.sleep(max(backoff_s(self.failures, n.jitter()), min(retry_after or 0.0, BACKOFF_CAP_S)))

    async def _attempt(self, body: bytes, headers: dict[str, str]) -> tuple[str, float | None]:
        """One POST: `delivered`, `rejected` (an answer retrying will not change) or `retry`."""
        key = headers["Idempotency-Key"]
        try:
            status, retry_after = await self.notifier.post(self.url, body, headers)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            self.last_error = type(exc).__name__
            log.warning("route %s: %s not delivered (%s)", self.route, key, self.last_error)
            return "retry", None
        except Exception:  # a bug must not stop the route: keep retrying, loudly
            self.last_error = "unexpected error"
            log.exception("route %s: %s not delivered", self.route, key)
            return "retry", None
        if 200 <= status < 300:
            return "delivered", None
        self.last_error = f"HTTP {status}"
        if status in RETRYABLE or status >= 500:
            log.warning("route %s: %s answered %s", self.route, key, self.last_error)
            return "retry", retry_after
        return "rejected", None

    async def _finish(self, item: _Pending, status: str, result: str) -> None:
        n = self.notifier
        n.counter.labels(self.route, result).inc()
        n.done.add(item.key)
        n.pending.discard(item.key)
        await n.record(item.key, {"status": status, "at": _now_iso()})


async def follow_alerts(settings: Settings, counter: Counter) -> None:
    """Notify the alerts topic's alerts until cancelled (the worker stopping); nothing without routes.
    A broker or state error starts it over: what was sent is read back, nothing is lost."""
    routes = settings.alert_routes()
    if not routes:
        return
    started = datetime.now(timezone.utc)
    log.info("alert notifications on, routes: %s", ", ".join(sorted(map(route_label, routes))))
    while True:
        try:
            await _follow(settings, routes, counter, started)
        except Exception:
            log.exception("alert notifications stopped; starting over in %.0f s", RESTART_S)
        await asyncio.sleep(RESTART_S)


async def _follow(settings: Settings, routes: Mapping[str, str], counter: Counter, started: datetime) -> None:
    kwargs, state = settings.aiokafka_kwargs(), internal_topic_name(settings, NOTIFICATIONS)
    producer = AIOKafkaProducer(**kwargs, acks="all", client_id=f"{settings.faust_id}-notifier")
    await producer.start()
    try:
        async with aiohttp.ClientSession(timeout=HTTP_TIMEOUT) as session:
            notifier = Notifier(routes, counter, _recorder(producer, state), http_poster(session))
            consumer = AIOKafkaConsumer(
                **kwargs,
                group_id=f"{settings.faust_id}-notifier",
                enable_auto_commit=False,  # never committed: every assignment re-reads from the start
                auto_offset_reset="earliest",
                session_timeout_ms=int(settings.session_timeout_seconds * 1000),
                heartbeat_interval_ms=1000,
                client_id=f"{settings.faust_id}-notifier",
            )
            await consumer.start()
            senders = asyncio.ensure_future(notifier.run())
            try:
                listener = _Reassigned(notifier)
                consumer.subscribe([topic_name(settings.topic_prefix, "alerts")], listener=listener)
                while True:
                    batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
                    while not listener.fresh:  # the state as of after the assignment, before its alerts
                        listener.fresh = True
                        await asyncio.wait_for(_read_state(kwargs, state, notifier), STATE_READ_TIMEOUT_S)
                        await notifier.enable_routes(started)
                    if senders.done():
                        senders.result()  # a sender failed: raise, start over
                    assigned = consumer.assignment()
                    for tp, records in batches.items():
                        for record in records if tp in assigned else ():
                            _offer(notifier, record, tp.partition)
            finally:
                senders.cancel()
                await asyncio.gather(senders, return_exceptions=True)
                await consumer.stop()
    finally:
        await producer.stop()


def _offer(notifier: Notifier, record: Any, partition: int) -> None:
    try:
        alert = orjson.loads(record.value)
    except (orjson.JSONDecodeError, TypeError):
        log.warning("ignored a foreign record in %s at offset %d", record.topic, record.offset)
        return
    if isinstance(alert, dict):
        notifier.offer(alert, partition)


async def _read_state(kwargs: dict[str, Any], topic: str, notifier: Notifier) -> None:
    async for _, records in read_to_end(kwargs, topic):
        for record in records:
            notifier.restore(record.key, record.value)
    log.info("notification state read: %d alerts done", len(notifier.done))


def _recorder(producer: Any, topic: str) -> Record:
    async def record(key: str, value: dict[str, str]) -> None:
        """Returns once the broker has it; retried while the broker is away (the route waits)."""
        while True:
            try:
                await (await producer.send(topic, key=key.encode(), value=orjson.dumps(value)))
                return
            except Exception:
                log.exception("could not record notification %s; retrying in %.0f s", key, RESTART_S)
                await asyncio.sleep(RESTART_S)

    return record


class _Reassigned(ConsumerRebalanceListener):  # type: ignore[misc]
    """Marks the state stale at every rebalance, and drops the queued alerts of revoked partitions."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.fresh = False

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.fresh = False
        self.notifier.drop(tp.partition for tp in revoked)

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.fresh = False

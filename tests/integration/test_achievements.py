"""Achievements on the real broker (SPEC §5b): two workers, a rep's calls crossing her day target's
milestones and her record, her team's target, a second rep's record; the worker that announced the first
goal is SIGKILLed right after it and restarted later. Every achievement the reference computation finds
is on `sales.achievements` exactly once, with the contract's fields, and nothing else is."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from streams.audit import achievements as reference
from tests.integration.floor import converge, produce_values, read_topic, valid_events
from tests.integration.workers import Worker, worker_env

TEAM = "north"


def midday_zone(now: datetime) -> str:
    """A fixed-offset zone where it is about noon now: the test's "today" cannot turn while it runs."""
    offset = (12 - now.hour + 12) % 24 - 12
    return "UTC" if offset == 0 else f"Etc/GMT{'+' if offset < 0 else '-'}{abs(offset)}"


class Events:
    def __init__(self) -> None:
        self.n = 0

    def stamp(self, moment: datetime) -> str:
        return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def call(self, rep: str, at: datetime) -> dict[str, Any]:
        self.n += 1
        return {"event_id": f"call-{self.n}", "type": "call.completed", "occurred_at": self.stamp(at),
                "team_id": TEAM, "rep_id": rep, "call_id": f"c{self.n}", "direction": "outbound",
                "outcome": "connected", "duration_s": 60}  # fmt: skip

    def target(self, rep: str | None, period: str, metric: str, value: float, at: datetime) -> dict[str, Any]:
        self.n += 1
        event = {"event_id": f"target-{self.n}", "type": "target.set", "occurred_at": self.stamp(at),
                 "team_id": TEAM, "period": period, "metric": metric, "value": value}  # fmt: skip
        if rep:
            event["rep_id"] = rep
        return event


async def read_achievements(bootstrap: str, topic: str) -> list[tuple[bytes, dict[str, Any]]]:
    return [(r.key, orjson.loads(r.value)) for r in await read_topic(bootstrap, topic)]


def identity(message: dict[str, Any]) -> tuple[Any, ...]:
    if message["type"] == "goal.reached":
        return ("goal.reached", message["team_id"], message["rep_id"], message["metric"], message["period"],
                float(message["milestone"]))  # fmt: skip
    return ("record.broken", message["team_id"], message["rep_id"], message["metric"], message["day"], None)


def announced_by(worker: Worker) -> int:
    """What the worker says it announced (SPEC §6 has no metric for it: the stage logs each one)."""
    return worker.log_path.read_text(errors="replace").count("] announced ")


async def announcer_of(workers: list[Worker], within: float = 10) -> Worker:
    """The worker that logged an announcement: it logs once the broker has acknowledged it, a moment after
    a reader of the topic may already see it."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for worker in workers:
            if announced_by(worker) > 0:
                return worker
        await asyncio.sleep(0.05)
    raise AssertionError(f"no worker logged an announcement within {within:.0f} s")


async def wait_for(predicate: Any, within: float, what: str, workers: list[Worker]) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.3)
    tails = "\n".join(w.log_tail(25) for w in workers)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


async def test_each_achievement_once_across_a_sigkill_and_two_workers(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    zone = midday_zone(now)
    local_now = now.astimezone(ZoneInfo(zone))
    today = local_now.date().isoformat()
    env = worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_TIMEZONE=zone, SALESFLOOR_SESSION_TIMEOUT_SECONDS="6")
    workers = [Worker(env, tmp_path / f"w{n}.log").start() for n in range(2)]
    topic = topic_prefix + "achievements"
    make = Events()
    try:
        for worker in workers:
            worker.wait_ready()
        # eight earlier days: ann's best is 6 calls, bob's 3
        history = [
            make.call(rep, local_now.replace(hour=10, minute=n) - timedelta(days=day))
            for day in range(1, 9)
            for rep, calls in (("ann", 6 if day != 4 else 5), ("bob", 3))
            for n in range(calls)
        ]
        month_start = local_now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        targets = [
            make.target("ann", today, "calls_outbound", 10, local_now - timedelta(hours=3)),
            make.target(None, today, "calls_outbound", 20, local_now - timedelta(hours=3)),
            make.target("bob", today[:7], "calls_outbound", 1000, month_start),  # far off: no goal
        ]
        early = [make.call("ann", now - timedelta(minutes=30 - n)) for n in range(4)]
        early += [make.call("bob", now - timedelta(minutes=20 - n)) for n in range(2)]
        sent = history + targets + early
        await produce_values([orjson.dumps(e) for e in sent], kafka_bootstrap, topic_prefix)
        await asyncio.to_thread(converge, workers, valid_events([orjson.dumps(e) for e in sent]), tz=zone)
        assert await read_achievements(kafka_bootstrap, topic) == []  # nothing reached yet

        fifth = make.call("ann", now - timedelta(minutes=5))
        sent.append(fifth)
        await produce_values([orjson.dumps(fifth)], kafka_bootstrap, topic_prefix)
        first = await wait_for(
            lambda: read_achievements(kafka_bootstrap, topic), 30, "ann's 50 % goal", workers
        )  # fmt: skip
        assert [identity(m) for _, m in first] == [("goal.reached", TEAM, "ann", "calls_outbound", today, 0.5)]
        announcer = await announcer_of(workers)
        announcer.kill()  # right after the first goal went out

        late = [make.call("ann", now - timedelta(minutes=4, seconds=-n)) for n in range(5)]  # ann: 10
        late += [make.call("bob", now - timedelta(minutes=3, seconds=-n)) for n in range(3)]  # bob: 5
        late += [late[0], late[-1]]  # duplicates count once
        sent += late
        await produce_values([orjson.dumps(e) for e in late], kafka_bootstrap, topic_prefix)
        survivor = next(w for w in workers if w is not announcer)
        events = valid_events([orjson.dumps(e) for e in sent])
        want = reference.achievements(events, now=datetime.now(timezone.utc), tz=zone)
        assert set(want) == {
            ("goal.reached", TEAM, "ann", "calls_outbound", today, 0.5),
            ("goal.reached", TEAM, "ann", "calls_outbound", today, 1.0),
            ("record.broken", TEAM, "ann", "calls_outbound", today, None),
            ("record.broken", TEAM, "bob", "calls_outbound", today, None),
            ("goal.reached", TEAM, None, "calls_outbound", today, 0.5),
        }, sorted(want, key=str)

        async def all_there() -> bool:
            return {identity(m) for _, m in await read_achievements(kafka_bootstrap, topic)} == set(want)

        await wait_for(all_there, 90, "every achievement from the surviving worker", [survivor])
        announcer.start()  # back: another rebalance, partitions move again
        announcer.wait_ready()
        await asyncio.to_thread(converge, workers, events, tz=zone)
        await asyncio.sleep(5)

        messages = await read_achievements(kafka_bootstrap, topic)
        assert Counter(identity(m) for _, m in messages) == Counter(dict.fromkeys(want, 1))
        for key, message in messages:
            assert key == f"{message['team_id']}/{message['rep_id'] or ''}".encode()
            assert datetime.fromisoformat(message["detected_at"]).tzinfo is not None
            final = want[identity(message)]  # the value now; at detection it may have been lower
            if message["type"] == "goal.reached":
                assert message["target"] == (10 if message["rep_id"] else 20)
                assert message["milestone"] * message["target"] <= message["value"] <= final, message
            else:
                assert message["previous_best"] == (6 if message["rep_id"] == "ann" else 3)
                assert message["previous_best"] < message["value"] <= final, message
        by_identity = {identity(m): m for _, m in messages}
        assert by_identity[("goal.reached", TEAM, "ann", "calls_outbound", today, 0.5)]["value"] == 5  # the 5th call
    finally:
        for worker in workers:
            worker.stop()

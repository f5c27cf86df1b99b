"""Business-hours SLA clocks on the real broker (SPEC §4 "Business time", §5): a team in New York with a
worker in UTC. Leads created just before closing time three days ago wait through a closed day and a
holiday and breach their 5 minutes on the business clock seconds after today's opening — once each, also
when the worker is SIGKILLed across a breach; a lead answered across the autumn DST change and a calendar
older than the retention count in the KPIs exactly as the reference computes them; a team without a
calendar keeps the wall clock."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from streams.audit import reference
from tests.integration.floor import converge, produce_values, valid_events
from tests.integration.test_alerts import call, lead, read_alerts, stamp
from tests.integration.test_kpis import api_series
from tests.integration.workers import Worker, worker_env
from tests.kpi_compare import differences

NEW_YORK = ZoneInfo("America/New_York")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
TEAM = "north"  # the alerts test's helpers make leads of this team
RETENTION_DAYS = 400  # the last autumn DST change is within it


def calendar(event_id: str, at: datetime, hours: dict[str, list[list[str]]], holidays: list[str]) -> bytes:
    return orjson.dumps({"event_id": event_id, "type": "calendar.set", "occurred_at": stamp(at), "team_id": TEAM,
                         "timezone": "America/New_York", "hours": hours, "holidays": holidays})  # fmt: skip


def local(day: date, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=NEW_YORK).astimezone(timezone.utc)


def last_fall_back(before: date) -> date:
    """The last US autumn DST change (first Sunday of November) before a date."""
    for year in (before.year, before.year - 1):
        first = date(year, 11, 1)
        sunday = first + timedelta(days=(6 - first.weekday()) % 7)
        if sunday < before:
            return sunday
    raise AssertionError("unreachable")


def plan(now: datetime) -> tuple[datetime, list[bytes]]:
    """Today's opening (`t0`, a whole local minute 20-80 s from now) and the events: the calendar in force
    three days ago (open 09:00-17:00 that day, closed the next, all day the day after but a holiday, and
    from t0 today), an older calendar (Mon-Fri 9-17, stamped before the retention), the leads."""
    t0 = (now + timedelta(seconds=80)).astimezone(NEW_YORK).replace(second=0, microsecond=0)
    today = t0.date()
    created_day, holiday = today - timedelta(days=3), today - timedelta(days=1)
    hours = {
        DAYS[created_day.weekday()]: [["09:00", "17:00"]],
        DAYS[holiday.weekday()]: [["00:00", "24:00"]],
        DAYS[today.weekday()]: [[t0.strftime("%H:%M"), (t0 + timedelta(hours=1)).strftime("%H:%M")]],
    }
    weekdays = {day: [["09:00", "17:00"]] for day in DAYS[:5]}
    fall_back = last_fall_back(today - timedelta(days=4))
    events = [
        calendar("cal-autumn", now - timedelta(days=RETENTION_DAYS + 30), weekdays, []),  # older than the retention
        calendar("cal-test", local(created_day, 8, 0), hours, [holiday.isoformat()]),
        lead("first", local(created_day, 16, 55, 10)),  # 290 s before closing: breaches at t0 + 10 s
        lead("second", local(created_day, 16, 55, 25)),  # at t0 + 25 s
        lead("answered", local(created_day, 16, 50)),  # 600 business seconds when answered before t0
        call("answered", now - timedelta(seconds=5)),
        lead("dst", local(fall_back - timedelta(days=2), 16, 55)),  # Friday before the change, answered Monday
        call("dst", local(fall_back + timedelta(days=1), 9, 10)),
        lead("wall", now - timedelta(seconds=290), team="south"),  # no calendar: breaches 10 s from now
    ]
    return t0.astimezone(timezone.utc), events


async def wait_for_alert(bootstrap: str, topic: str, lead_id: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if any(a["lead_id"] == lead_id for a, _ in await read_alerts(bootstrap, topic)):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"no alert for {lead_id} within {within_s} s")


async def test_leads_breach_on_the_business_clock_once_across_a_kill(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    t0, values = plan(now)
    alerts_topic = topic_prefix + "alerts"
    days = str(RETENTION_DAYS)
    env = worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_ALERT_THRESHOLDS="300,3600",
                     SALESFLOOR_RETENTION_DAYS=days, SALESFLOOR_HISTORY_DAYS=days)  # fmt: skip
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        worker.wait_ready()
        await produce_values(values, kafka_bootstrap, topic_prefix)
        events = valid_events(values)
        retention_s = RETENTION_DAYS * 86400
        exported = converge([worker], events, timeout=60, retention_s=retention_s)  # every KPI, as the reference
        labels = (("rep", "bob"), ("stat", "avg"), ("team", TEAM), ("window", "today"))
        assert exported[("salesfloor_lead_response_business_seconds", labels)] == 600
        dst_day = last_fall_back(t0.date() - timedelta(days=4)) + timedelta(days=1)
        want = reference.compute(events, now=datetime.now(timezone.utc), day=dst_day, retention_s=retention_s)
        team_day = {k: v for k, v in want.items() if dict(k[1]).get("team") == TEAM and dict(k[1]).get("rep") == "_all"}
        got = api_series(worker, TEAM, "_all", dst_day)
        assert differences(got, team_day, only=["salesfloor_lead_response_business_seconds"]) == []
        avg = (("rep", "_all"), ("stat", "avg"), ("team", TEAM), ("window", "today"))
        business = got[("salesfloor_lead_response_business_seconds", avg)]
        assert business == 900  # 5 min on Friday, 10 on Monday, the clocks gone back in between

        # the wall-clock lead breaches now; the weekend leads only after today's opening
        await wait_for_alert(kafka_bootstrap, alerts_topic, "wall", 30)
        left = (t0 - datetime.now(timezone.utc)).total_seconds()
        await wait_for_alert(kafka_bootstrap, alerts_topic, "first", left + 20)
        worker.kill()  # 'second' falls due at t0 + 25 s while no worker runs
        await asyncio.sleep(max(0.0, (t0 + timedelta(seconds=27) - datetime.now(timezone.utc)).total_seconds()))
        worker.start()
        worker.wait_ready()
        await wait_for_alert(kafka_bootstrap, alerts_topic, "second", 30)
        await asyncio.sleep(3)

        alerts = await read_alerts(kafka_bootstrap, alerts_topic)
        got_alerts = Counter((a["lead_id"], a["threshold_s"]) for a, _ in alerts)
        assert got_alerts == Counter({("wall", 300): 1, ("first", 300): 1, ("second", 300): 1}), worker.log_tail()
        by_lead: dict[str, dict[str, Any]] = {a["lead_id"]: a for a, _ in alerts}
        first = by_lead["first"]
        detected = datetime.fromisoformat(first["detected_at"])
        assert timedelta(0) <= detected - (t0 + timedelta(seconds=10)) <= timedelta(seconds=5), first
        assert first["clock"] == "business" and 300 <= first["waited_s"] <= 305, first
        assert by_lead["second"]["clock"] == "business" and by_lead["wall"]["clock"] == "wall"
    finally:
        worker.stop()

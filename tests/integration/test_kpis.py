"""The KPI engine on the real broker against the reference computation: a simulated business day
with random keys, reordering, duplicates, late and malformed messages; one worker, a restart, and
two workers in one group."""

from __future__ import annotations

import asyncio
import signal
import subprocess
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from agents.routing import SEP, aggregate_partition
from streams.audit import reference
from streams.sim.simulator import FloorConfig
from tests.integration.floor import (
    busy_start,
    clear_of_a_minute_turn,
    converge,
    distorted,
    produce_values,
    valid_events,
)
from tests.integration.workers import Worker, worker_env
from tests.kpi_compare import differences, key, parse_metrics

SHARES = {"shuffle": 0.05, "duplicate": 0.01, "late": 0.002, "malformed": 0.005}


def day_config(seed: int, tz: str = "UTC") -> FloorConfig:
    now = datetime.now(timezone.utc)
    return FloorConfig(
        seed=seed,
        teams=4,
        reps_per_team=10,
        intensity=3.5,
        lead_rate=12,
        tz=tz,
        start=busy_start(now, tz=tz),
        end=now - timedelta(seconds=1),
    )


def api_series(worker: Worker, team: str, rep: str, day: date | None = None) -> dict[tuple, float]:
    """The API's answer for one team/rep as series keys like the exporter's."""
    query = f"/api/kpis?team={team}&rep={rep}" + (f"&date={day.isoformat()}" if day else "")
    status, document = worker.api(query)
    assert status == 200, document
    out: dict[tuple, float] = {}
    for window, values in document["windows"].items():
        for name, value in values.items():
            labels = {"team": team, "rep": rep, "window": window}
            if isinstance(value, dict):
                for label, v in value.items():
                    out[key(f"salesfloor_{name}", {**labels, OWN_LABEL.get(name, "stat"): label})] = v
            else:
                out[key(f"salesfloor_{name}", labels)] = value
    for window, values in document["breakdowns"].items():
        for name, by_label in values.items():
            for label, v in by_label.items():
                out[key(f"salesfloor_{name}", {"team": team, "window": window, OWN_LABEL[name]: label})] = v
    for name, value in document["live"].items():
        if name in TEAM_ONLY and rep != "_all":
            continue
        labels = {"team": team} if name in TEAM_ONLY else {"team": team, "rep": rep}
        if isinstance(value, dict):
            for label, v in value.items():
                out[key(f"salesfloor_{name}", {**labels, OWN_LABEL[name]: label})] = v
        else:
            out[key(f"salesfloor_{name}", labels)] = value
    return out


OWN_LABEL = {  # the label of its own each multi-series KPI has (else `stat`)
    "deals_entered_stage": "stage",
    "target_value": "metric",
    "target_attainment_ratio": "metric",
    "pipeline_open_amount_by_stage": "stage",
    **{f"{kpi}_by_source": "source" for kpi in ("leads_created", "leads_converted", "won_amount")},
    "leads_by_response": "response",
    "lead_conversion_ratio_by_response": "response",
    "leads_converted_by_contacts": "contacts",
}
TEAM_ONLY = {
    "lead_oldest_awaiting_seconds",
    "lead_oldest_awaiting_business_seconds",
    "pipeline_open_amount_by_stage",
}  # live, per team and floor


async def test_simulated_day_one_worker_restart_and_two_workers(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    labelled = distorted(day_config(seed=101), **SHARES)
    values = [v for v, _ in labelled]
    events = valid_events(values)
    assert len(values) >= 20_000
    assert sum(label.startswith("malformed") for _, label in labelled) > 50
    assert sum(label == "late" for _, label in labelled) > 10

    env = worker_env(kafka_bootstrap, topic_prefix)
    first = Worker(env, tmp_path / "w1.log").start()
    try:
        first.wait_ready()
        await produce_values(values, kafka_bootstrap, topic_prefix, keys="random")
        exported = converge([first], events)
        created = [
            exported.get(key("salesfloor_leads_created", {"team": "_all", "rep": "_all", "window": w}), 0)
            for w in ("today", "month")
        ]
        assert max(created) > 0  # not an empty comparison (just after midnight, today alone can be empty)
        check = await asyncio.to_thread(
            subprocess.run,
            ["promtool", "check", "metrics"],
            input=first.metrics(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert (check.returncode, check.stdout + check.stderr) == (0, "")

        # the JSON API agrees with the reference for the floor, every team and a sample of reps
        clear_of_a_minute_turn()
        now = datetime.now(timezone.utc)
        want = reference.compute(events, now=now)
        teams = sorted({dict(k[1])["team"] for k in want if dict(k[1]).get("team") not in (None, "_all")})
        reps = sorted(
            {(dict(k[1])["team"], dict(k[1])["rep"]) for k in want if dict(k[1]).get("rep") not in (None, "_all")}
        )
        for team, rep in [("_all", "_all"), *((t, "_all") for t in teams), *reps[::7]]:
            got = api_series(first, team, rep)
            scope = {
                k: v
                for k, v in want.items()
                if dict(k[1]).get("team") == team
                and dict(k[1]).get("rep", "_all") == rep
                and not (dict(k[1]).get("rep") is None and rep != "_all")
            }
            assert differences(got, scope) == [], (team, rep)

        # history: one KPI day by day and month by month, as the windows say; nothing outside what is kept
        today = now.date()
        for team in ("_all", *teams):
            status, days = first.api(f"/api/history?team={team}&kpi=leads_created&from={today}&to={today}")
            assert status == 200, days
            wanted = want.get(key("salesfloor_leads_created", {"team": team, "rep": "_all", "window": "today"}), 0)
            assert days["points"] == [{"date": today.isoformat(), "value": wanted}], team
            status, months = first.api(f"/api/history?team={team}&kpi=won_amount&from={today:%Y-%m}&to={today:%Y-%m}")
            wanted = want.get(key("salesfloor_won_amount", {"team": team, "rep": "_all", "window": "month"}), 0)
            assert status == 200 and months["points"][0]["value"] == pytest.approx(wanted, rel=1e-12), months
            status, days = first.api(f"/api/history?team={team}&kpi=leads_by_response&from={today}&to={today}")
            wanted_by = {
                dict(k[1])["response"]: v
                for k, v in want.items()
                if k[0] == "salesfloor_leads_by_response"
                and dict(k[1]) == {**dict(k[1]), "team": team, "window": "today"}
            }
            assert status == 200 and days["points"][0]["value"] == wanted_by and len(wanted_by) == 5, days
        status, document = first.api("/api/kpis?date=1900-01-01")
        assert status == 404 and "is not kept: days from" in document["error"], document
        status, document = first.api("/api/history?kpi=leads_created&from=1900-01&to=1900-02")
        assert status == 404 and "is not kept: months from" in document["error"], document

        # a clean restart restores every KPI from the changelogs
        first.stop(signal.SIGTERM)
        first.start()
        first.wait_ready()
        converge([first], events, timeout=90)

        # a second worker in the same group: each series from exactly one of them, all exact
        second = Worker(env, tmp_path / "w2.log").start()
        try:
            second.wait_ready()
            converge([first, second], events, timeout=120)
            for worker in (first, second):
                owned = parse_metrics(worker.metrics())
                assert any(name == "salesfloor_leads_created" for name, _ in owned), "a worker owns no KPI series"
            # either worker answers the API for any team, asking the owner when it is not
            for team in ("_all", *teams):
                answers = [w.api(f"/api/kpis?team={team}")[1]["windows"] for w in (first, second)]
                assert answers[0] == answers[1] and answers[0]["today"], team
        finally:
            second.stop()
    finally:
        first.stop()
    await assert_changelogs_follow_their_source_partitions(kafka_bootstrap, topic_prefix)


async def assert_changelogs_follow_their_source_partitions(bootstrap: str, prefix: str) -> None:
    """Every changelog record is in the partition whose events produced it, so recovery restores the
    right state: entity keys carry their partition, aggregate keys hash like their source topic."""
    for table in ("entities", "aggregates"):
        topic = f"{prefix}salesfloor-{table}-changelog"
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(4)]
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            records = []
            while any([await consumer.position(tp) < ends[tp] for tp in partitions]):
                for batch in (await consumer.getmany(timeout_ms=1000)).values():
                    records.extend(batch)
        finally:
            await consumer.stop()
        assert len(records) > 1000, table
        for record in records:
            table_key = orjson.loads(record.key)
            if table == "entities":
                assert int(table_key.split(SEP)[0]) == record.partition, table_key
            else:
                team, rep, _bucket = table_key.split(SEP)
                assert aggregate_partition(team, rep, 4) == record.partition, table_key


def last_dst_change(zone: ZoneInfo, before: date) -> date:
    """The most recent local day before `before` whose length is not 24 hours."""
    day = before - timedelta(days=1)
    while True:
        start = datetime.combine(day, datetime.min.time(), zone)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        if (end.astimezone(timezone.utc) - start.astimezone(timezone.utc)) != timedelta(hours=24):
            return day
        day -= timedelta(days=1)


async def test_dst_change_day_in_warsaw(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    zone = ZoneInfo("Europe/Warsaw")
    today = datetime.now(zone).date()
    day = last_dst_change(zone, today)
    start = datetime.combine(day, datetime.min.time(), zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone) - timedelta(seconds=1)
    config = FloorConfig(seed=7, teams=2, reps_per_team=4, tz="Europe/Warsaw", start=start, end=end)
    values = [v for v, _ in distorted(config, shuffle=0.05, duplicate=0.01)]
    events = valid_events(values)
    hours = (end.astimezone(timezone.utc) - start.astimezone(timezone.utc) + timedelta(seconds=1)) / timedelta(hours=1)
    assert hours in (23, 25)

    env = worker_env(
        kafka_bootstrap, topic_prefix, SALESFLOOR_TIMEZONE="Europe/Warsaw", SALESFLOOR_RETENTION_DAYS="400"
    )
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        worker.wait_ready()
        await produce_values(values, kafka_bootstrap, topic_prefix)
        converge([worker], events, tz="Europe/Warsaw", retention_s=400 * 86400)
        now = datetime.now(timezone.utc)
        want = reference.compute(events, now=now, tz="Europe/Warsaw", retention_s=400 * 86400, day=day)
        assert want[key("salesfloor_leads_created", {"team": "_all", "rep": "_all", "window": "today"})] > 0
        for team in ("_all", *sorted({e["team_id"] for e in events})):
            scope = {  # the team's series and its breakdowns (which have no rep)
                k: v
                for k, v in want.items()
                if dict(k[1]).get("team") == team and dict(k[1]).get("rep", "_all") == "_all" and "window" in dict(k[1])
            }
            assert differences(api_series(worker, team, "_all", day), scope) == [], team
    finally:
        worker.stop()

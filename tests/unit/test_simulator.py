"""Unit tests of the simulated sales floor, its delivery distortions and its Kafka plumbing (no broker)."""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import random
import re
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from streams.errors import InvalidEvent
from streams.records import CalendarSet, decode_event
from streams.settings import load_settings
from streams.sim.calendars import HOLIDAY_DAYS, easter
from streams.sim.catalog import DAILY_METRICS
from streams.sim.commands import configure_produce, configure_simulate, run_simulate
from streams.sim.demo import MAX_BACKFILL_EVENTS, configure_demo, plan_demo, worker_env
from streams.sim.distort import (
    MALFORMED_KINDS,
    Distorter,
    distort,
    distort_labeled,
    epoch_ms,
    key_for_topic,
    key_for_value,
    malformed_value,
    read_jsonl,
    topic_for_value,
    write_jsonl,
)
from streams.sim.malformed import REASONS_OF_KIND
from streams.sim.produce import ProduceStats, produce
from streams.sim.realtime import generate_realtime, realtime_config
from streams.sim.simulator import MEETING_OUTCOMES, SOURCES, TARGET_METRICS, FloorConfig, generate
from streams.sim.targets import expected_per_rep
from streams.topics import INPUT_TOPICS, TOPIC_OF_TYPE, spec_key

START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
DAY = FloorConfig(seed=1, start=START, end=START + timedelta(days=1))
WEEK = FloorConfig(seed=2, start=START, end=START + timedelta(days=7))
STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z")
STAGES = ("qualification", "proposal", "negotiation")
BACKLOG_TYPES = {"deal.created", "deal.stage_changed", "meeting.scheduled"}  # booked or opened before start
BEFORE_START_TYPES = BACKLOG_TYPES | {"calendar.set"}  # and the teams' calendars, a day ahead


@pytest.fixture(scope="module")
def day() -> list[dict[str, Any]]:
    return list(generate(DAY))


@pytest.fixture(scope="module")
def week() -> list[dict[str, Any]]:
    return list(generate(WEEK))


def ms(event: dict[str, Any]) -> int:
    return epoch_ms(event["occurred_at"])


def rejection(value: bytes, currency: str = "EUR") -> str | None:
    """The engine's reason for rejecting a value, None when it accepts it: the decoder's, or `future`
    for an event stamped more than 300 s after the wall clock when it is read (SPEC §2)."""
    try:
        decode_event(value, currency=currency)
    except InvalidEvent as exc:
        return exc.reason
    return "future" if epoch_ms(orjson.loads(value)["occurred_at"]) > time.time() * 1000 + 300_000 else None


def is_contact(event: dict[str, Any]) -> bool:
    if event["type"] == "email.sent":
        return "lead_id" in event
    return (
        event["type"] == "call.completed"
        and "lead_id" in event
        and (event["direction"] == "outbound" or event["outcome"] == "connected")
    )


# --- generate ------------------------------------------------------------------------------------------


def test_same_seed_same_events_other_seed_other_events(day: list[dict[str, Any]]) -> None:
    assert list(generate(DAY)) == day
    other = list(generate(FloorConfig(seed=99, start=DAY.start, end=DAY.end)))
    assert other[:50] != day[:50]
    for kind in ("meeting.scheduled", "deal.stage_changed", "target.set"):
        assert [e for e in other if e["type"] == kind] != [e for e in day if e["type"] == kind]


def test_a_shorter_period_is_a_prefix_of_a_longer_one(day: list[dict[str, Any]]) -> None:
    half = list(generate(FloorConfig(seed=1, start=START, end=START + timedelta(hours=12))))
    assert 0 < len(half) < len(day)
    assert day[: len(half)] == half


def test_events_are_time_ordered_and_inside_the_period(day: list[dict[str, Any]]) -> None:
    times = [ms(e) for e in day]
    assert times == sorted(times)
    start, end = epoch_ms(DAY.start.isoformat()), epoch_ms(DAY.end.isoformat())
    backlog = [e for e in day if ms(e) < start]
    assert {e["type"] for e in backlog} == BEFORE_START_TYPES  # the open pipeline's history, meetings booked
    assert all(ms(e) >= start - 30 * 86_400_000 for e in backlog)
    assert all(ms(e) <= end for e in day)
    assert all(STAMP.match(e["occurred_at"]) for e in day)


def test_every_event_is_valid_and_unique(week: list[dict[str, Any]]) -> None:
    for event in week:
        decoded = decode_event(orjson.dumps(event), currency="EUR", stages=STAGES)
        assert decoded.event_id == event["event_id"]
        for name, value in event.items():
            if name.endswith("_id") and value is not None:
                assert isinstance(value, str) and value and not value.startswith("_"), (name, event)
        if event["type"] in ("meeting.scheduled", "meeting.completed", "deal.stage_changed", "email.sent"):
            assert event["rep_id"], event
        if event["type"] == "meeting.scheduled":
            assert STAMP.match(event["scheduled_for"]) and event["scheduled_for"] > event["occurred_at"]
    assert len({e["event_id"] for e in week}) == len(week)


def test_ids_look_like_a_sales_floor(day: list[dict[str, Any]]) -> None:
    assert {e["team_id"] for e in day} == {"team-north", "team-south", "team-east"}
    reps = {e["rep_id"] for e in day if e.get("rep_id")}
    assert "rep-north-03" in reps and len(reps) == 24


def test_the_floor_has_a_realistic_shape(week: list[dict[str, Any]]) -> None:
    by_type = collections.Counter(e["type"] for e in week)
    created = {e["lead_id"]: e for e in week if e["type"] == "lead.created"}
    first: dict[str, int] = {}
    contacts: collections.Counter[str] = collections.Counter()
    for event in week:
        if is_contact(event) and event["lead_id"] in created:
            contacts[event["lead_id"]] += 1
            first.setdefault(event["lead_id"], ms(event))
    leads = len(created)
    assert leads > 800
    disqualified = {e["lead_id"] for e in week if e["type"] == "lead.disqualified"}
    converted = {e["lead_id"] for e in week if e["type"] == "deal.created" and e.get("lead_id") in created}
    never = set(created) - set(first) - disqualified
    assert 0.05 < len(never) / leads < 0.35  # ~10 %, plus leads still waiting at the end
    assert 0.02 < len(disqualified) / leads < 0.09
    assert disqualified - set(first), "some leads are disqualified before any contact"
    assert 0.12 < len(converted) / len(first) < 0.3
    assert 0.5 < sum(1 for lead in first if contacts[lead] >= 2) / len(first) < 0.9
    assert max(contacts.values()) <= 7  # 1-6 contacts plus an inbound call-back

    delays = sorted((first[lead] - ms(created[lead])) / 1000 for lead in first)
    median, p90 = delays[len(delays) // 2], delays[int(len(delays) * 0.9)]
    assert 60 < median < 1200, median
    assert p90 > 2400 and delays[-1] > 6 * 3600, (p90, delays[-1])  # long tail: some wait many hours

    won, lost = by_type["deal.won"], by_type["deal.lost"]
    assert won > 10 and lost > 10 and 0.2 < won / (won + lost) < 0.5
    assert any("amount" in e for e in week if e["type"] == "deal.lost")
    assert any("reason" in e for e in week if e["type"] == "deal.lost")
    amounts = sorted(e["amount"] for e in week if e["type"] == "deal.created")
    assert 900 < amounts[len(amounts) // 2] < 2500  # the median deal: 1,500 EUR
    assert all(round(a, 2) == a for a in amounts)
    assert {e.get("currency", "EUR") for e in week if e["type"].startswith("deal.")} == {"EUR"}

    unassigned = [e for e in created.values() if e["rep_id"] is None]
    assert 0.05 < len(unassigned) / leads < 0.16
    assigned = collections.Counter(e["lead_id"] for e in week if e["type"] == "lead.assigned")
    weekdays = [e for e in unassigned if ms(e) < epoch_ms((START + timedelta(days=4)).isoformat())]
    assert weekdays and all(assigned[e["lead_id"]] >= 1 for e in weekdays)  # weekend ones wait for Monday
    assert any(assigned[lead] >= 1 and created[lead]["rep_id"] for lead in assigned), "reassignments"
    sources = collections.Counter(e["source"] for e in created.values())
    assert set(sources) == set(SOURCES)
    assert sources.most_common(1)[0][0] == "inbound_web"

    calls = [e for e in week if e["type"] == "call.completed"]
    assert all(c["duration_s"] > 0 for c in calls if c["outcome"] == "connected")
    assert all(c["duration_s"] <= 120 for c in calls if c["outcome"] != "connected")
    assert {c["outcome"] for c in calls} == {"connected", "no_answer", "voicemail", "busy", "failed"}
    assert any(c["direction"] == "inbound" and c["outcome"] == "connected" and "lead_id" in c for c in calls)
    assert any(c["direction"] == "inbound" and c["outcome"] != "connected" for c in calls)
    assert any("lead_id" not in c for c in calls), "prospecting calls"
    assert any("lead_id" not in e for e in week if e["type"] == "email.sent"), "prospecting emails"
    opens = collections.Counter(e["email_id"] for e in week if e["type"] == "email.opened")
    assert max(opens.values()) >= 3
    assert by_type["email.clicked"] > 0 and by_type["email.replied"] > 0


def test_every_team_but_the_last_sends_its_calendar_before_the_floor_starts(week: list[dict[str, Any]]) -> None:
    start = epoch_ms(WEEK.start.isoformat())
    calendars = [e for e in week if e["type"] == "calendar.set"]
    assert [e["team_id"] for e in calendars] == ["team-north", "team-south"]  # team-east keeps the wall clock
    first = min(ms(e) for e in week if ms(e) >= start)
    assert all(ms(e) == start - 86_400_000 < first for e in calendars)  # in force for every lead of the floor
    assert all(ms(e) > ms(c) for e in week if e["type"].startswith("lead.") for c in calendars)
    north, south = (decode_event(orjson.dumps(e)) for e in calendars)
    assert isinstance(north, CalendarSet) and isinstance(south, CalendarSet)
    assert all("rep_id" not in e for e in calendars) and north.rep_id is None
    assert north.timezone == WEEK.tz and south.timezone == "America/New_York"  # one team abroad
    assert north.hours[:5] == (((8 * 60, 18 * 60),),) * 5 and north.hours[5] == ((9 * 60, 13 * 60),)  # Saturdays
    assert south.hours[0] == ((9 * 60, 17 * 60), (16 * 60 + 30, 25 * 60)) and south.hours[5:] == ((), ())
    assert date(2026, 11, 26) in south.holidays and date(2026, 11, 26) not in north.holidays  # Thanksgiving
    assert {date(2026, 12, 25), date(2027, 3, 26), date(2027, 3, 29)} <= north.holidays  # Christmas, Easter 2027
    for event in calendars:
        assert event["holidays"] == sorted(event["holidays"])
        assert event["holidays"][-1] < (WEEK.start + timedelta(days=HOLIDAY_DAYS)).date().isoformat()
    # the same floor without them, event for event (their ids come from a stream of their own)
    assert [e for e in week if e["type"] != "calendar.set"] == list(
        generate(dataclasses.replace(WEEK, calendars=False))
    )


def test_calendars_follow_the_teams_and_the_floors_zone() -> None:
    def calendars(**changes: Any) -> list[dict[str, Any]]:
        cfg = dataclasses.replace(WEEK, end=WEEK.start, reps_per_team=1, **changes)
        return [e for e in generate(cfg) if e["type"] == "calendar.set"]

    floor = calendars(teams=4, tz="America/New_York")
    assert [(e["team_id"], e["timezone"]) for e in floor] == [
        ("team-north", "America/New_York"),
        ("team-south", "Europe/Warsaw"),  # abroad: not the floor's zone
        ("team-east", "America/New_York"),
    ]
    assert "2026-12-24" in floor[1]["holidays"] and "2027-05-03" in floor[1]["holidays"]  # Poland's days off
    assert floor[2]["hours"] == dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), [["09:00", "17:00"]])
    assert calendars(teams=4, tz="America/New_York") == floor  # deterministic per seed
    assert {e["event_id"] for e in calendars(teams=4, seed=3)}.isdisjoint(e["event_id"] for e in floor)
    assert calendars(teams=1) == [] and calendars(calendars=False) == []
    assert [easter(year) for year in (2026, 2027, 2038)] == [date(2026, 4, 5), date(2027, 3, 28), date(2038, 4, 25)]


def test_targets_for_every_team_and_rep_of_every_month() -> None:
    cfg = FloorConfig(
        seed=3,
        start=datetime(2026, 10, 20, tzinfo=UTC),
        end=datetime(2026, 12, 3, tzinfo=UTC),
        teams=2,
        reps_per_team=3,
        lead_rate=1.0,
    )
    every = [e for e in generate(cfg) if e["type"] == "target.set"]
    assert {e["period"] for e in every if len(e["period"]) == 7} == {"2026-10", "2026-11", "2026-12"}
    for period in ("2026-10", "2026-11", "2026-12"):
        assert len([e for e in every if e["period"] == period]) == 2 * 4 * len(TARGET_METRICS)
    targets = [e for e in every if e["metric"] == "won_amount"]
    for period in ("2026-10", "2026-11", "2026-12"):
        month = [e for e in targets if e["period"] == period]
        assert len(month) == 2 * 4
        teams = [e for e in month if "rep_id" not in e]
        assert {e["team_id"] for e in teams} == {"team-north", "team-south"}
        for team in teams:
            reps = [e["value"] for e in month if e.get("rep_id") and e["team_id"] == team["team_id"]]
            assert team["value"] == sum(reps) and all(v >= 1000 and v % 1000 == 0 for v in reps)
        assert all(e["metric"] == "won_amount" for e in month)
    first = [e for e in targets if e["period"] == "2026-10"]
    assert {e["occurred_at"] for e in first} == {"2026-10-20T00:00:00.000Z"}
    assert {e["occurred_at"] for e in targets if e["period"] == "2026-11"} == {"2026-11-01T00:00:00.000Z"}


def test_the_new_event_types_appear_with_plausible_shares(week: list[dict[str, Any]]) -> None:
    by_type = collections.Counter(e["type"] for e in week)
    for kind in ("meeting.scheduled", "meeting.completed", "deal.stage_changed", "email.unsubscribed"):
        assert 0.002 < by_type[kind] / len(week) < 0.08, (kind, by_type[kind], len(week))
    assert 0.01 < by_type["email.unsubscribed"] / by_type["email.sent"] < 0.025
    sent = {e["email_id"]: e for e in week if e["type"] == "email.sent"}
    for event in (e for e in week if e["type"] == "email.unsubscribed"):
        email = sent[event["email_id"]]
        assert ms(event) > ms(email) and event["rep_id"] == email["rep_id"]
        assert event.get("lead_id") == email.get("lead_id")
    assert any("lead_id" in e for e in week if e["type"] == "email.unsubscribed")


def test_meetings_are_booked_ahead_and_completed_after_their_time(week: list[dict[str, Any]]) -> None:
    scheduled: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    completed: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for event in week:
        if event["type"] == "meeting.scheduled":
            scheduled[event["meeting_id"]].append(event)
        elif event["type"] == "meeting.completed":
            completed[event["meeting_id"]].append(event)
    assert set(completed) <= set(scheduled)
    with_lead = [m for m, events in scheduled.items() if "lead_id" in events[0]]
    assert 0.6 < len(with_lead) / len(scheduled) < 0.95, "most meetings come from leads, some from prospecting"
    assert any(len(events) == 2 for events in scheduled.values()), "some meetings are moved"
    finals = collections.Counter()
    corrected = 0
    for meeting, done in completed.items():
        booked = scheduled[meeting]
        due = epoch_ms(booked[-1]["scheduled_for"])
        assert all(ms(e) >= due for e in done)
        assert {e["rep_id"] for e in done} == {booked[0]["rep_id"]}
        assert {e.get("lead_id") for e in done} == {booked[0].get("lead_id")}
        for event in done:
            assert event["outcome"] in MEETING_OUTCOMES
            assert ("duration_s" in event) == (event["outcome"] == "held")
            if event["outcome"] == "held":
                assert 60 <= event["duration_s"] <= 86_400
        if len(done) == 2:
            corrected += 1
            assert [e["outcome"] for e in done] == ["no_show", "held"] and ms(done[1]) > ms(done[0])
        finals[done[-1]["outcome"]] += 1
        assert len(done) <= 2
    total = sum(finals.values())
    assert total > 150
    assert 0.6 < finals["held"] / total < 0.82 and 0.1 < finals["no_show"] / total < 0.28
    assert 0.03 < finals["cancelled"] / total < 0.18
    assert 0 < corrected / total < 0.08


def test_held_meetings_make_conversion_likelier_and_deals_follow_them() -> None:
    cfg = FloorConfig(seed=12, start=START, end=START + timedelta(days=21), teams=2, reps_per_team=5)
    events = list(generate(cfg))
    held: dict[str, int] = {}
    for event in events:
        if event["type"] == "meeting.completed" and "lead_id" in event:
            if event["outcome"] == "held":
                held[event["lead_id"]] = ms(event)
            else:
                held.pop(event["lead_id"], None)
    created = {e["lead_id"] for e in events if e["type"] == "lead.created"}
    contacted = {e["lead_id"] for e in events if is_contact(e)} & created
    converted = {}
    for event in events:
        if event["type"] == "deal.created" and event.get("lead_id") in created:
            converted.setdefault(event["lead_id"], ms(event))
    met = contacted & set(held)
    others = contacted - set(held)
    rate_met = len(met & set(converted)) / len(met)
    rate_others = len(others & set(converted)) / len(others)
    assert rate_met > 1.8 * rate_others, (rate_met, rate_others)
    after = [lead for lead in met & set(converted) if converted[lead] >= held[lead]]
    assert len(after) > 0.9 * len(met & set(converted))
    assert 0.12 < len(set(converted) & contacted) / len(contacted) < 0.3  # the mean stays


RESPONSE_BUCKETS = ("le_5m", "le_1h", "le_24h", "gt_24h", "none")


def response_buckets(events: list[dict[str, Any]], created_before: int) -> dict[str, tuple[int, int]]:
    """(leads, converted) by SPEC §4 response bucket, from the events alone, for leads created before the cut:
    first contact = earliest outbound call, connected inbound call, email.sent or held meeting with the lead;
    conversion = a deal.created with its lead_id."""
    created: dict[str, int] = {}
    first: dict[str, int] = {}
    converted: set[str] = set()
    for event in events:
        kind, lead = event["type"], event.get("lead_id")
        if lead is None:
            continue
        held = kind == "meeting.completed" and event["outcome"] == "held"
        if kind == "lead.created":
            created[lead] = ms(event)
        elif is_contact(event) or held:
            first[lead] = min(first.get(lead, ms(event)), ms(event))
        elif kind == "deal.created":
            converted.add(lead)
    counts = {bucket: [0, 0] for bucket in RESPONSE_BUCKETS}
    for lead, at in created.items():
        if at >= created_before:
            continue
        wait = (first[lead] - at) / 1000 if lead in first else None
        bucket = (
            "none"
            if wait is None
            else "le_5m"
            if wait <= 300
            else "le_1h"
            if wait <= 3600
            else "le_24h"
            if wait <= 86_400
            else "gt_24h"
        )
        counts[bucket][0] += 1
        counts[bucket][1] += lead in converted
    return {bucket: (n, c) for bucket, (n, c) in counts.items()}


@pytest.mark.parametrize("seed", [21, 22])
def test_leads_answered_fast_convert_more_and_every_response_bucket_fills(seed: int) -> None:
    cfg = FloorConfig(seed=seed, start=START, end=START + timedelta(days=6), teams=6)  # Monday to Saturday
    events = list(generate(cfg))
    day_one = response_buckets(events, epoch_ms((START + timedelta(days=1)).isoformat()))
    assert all(day_one[bucket][0] > 0 for bucket in RESPONSE_BUCKETS), day_one  # one day's leads, seen later
    cohort = response_buckets(events, epoch_ms((START + timedelta(days=3)).isoformat()))
    leads = sum(n for n, _ in cohort.values())
    assert cohort["le_5m"][0] / leads > 0.25  # many leads answered within 5 minutes
    assert (cohort["le_24h"][0] + cohort["gt_24h"][0]) / leads > 0.15  # a tail past an hour, some past a day

    def rate(*buckets: str) -> float:
        return sum(cohort[b][1] for b in buckets) / sum(cohort[b][0] for b in buckets)

    assert rate("le_5m") > 1.15 * rate("le_1h") > 1.15**2 * rate("le_24h", "gt_24h"), cohort
    assert rate("le_5m") > 3 * rate("le_24h", "gt_24h")
    assert cohort["none"][1] == 0

    flat = response_buckets(
        list(generate(dataclasses.replace(cfg, speed_to_lead=1.0))),
        epoch_ms((START + timedelta(days=3)).isoformat()),
    )
    answered = ("le_5m", "le_1h", "le_24h", "gt_24h")
    flat_rate = sum(flat[b][1] for b in answered) / sum(flat[b][0] for b in answered)
    assert 0.12 < rate(*answered) < 0.3 and 0.75 < rate(*answered) / flat_rate < 1.33  # the mean stays


def test_deals_move_through_the_stages_before_they_close() -> None:
    cfg = FloorConfig(seed=13, start=START, end=START + timedelta(days=45), teams=2, reps_per_team=4)
    events = list(generate(cfg))
    start = epoch_ms(START.isoformat())
    created = {e["deal_id"]: e for e in events if e["type"] == "deal.created" and ms(e) >= start}
    closed = {e["deal_id"]: e for e in events if e["type"] in ("deal.won", "deal.lost")}
    path: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
    for event in events:
        if event["type"] == "deal.stage_changed":
            assert event["stage"] in STAGES
            path[event["deal_id"]].append(event)
    done = [d for d in created if d in closed]
    assert len(done) > 100
    skipped = back = revised = 0
    for deal in done:
        stages = [STAGES.index(e["stage"]) for e in path[deal]]
        assert all(ms(created[deal]) <= ms(e) <= ms(closed[deal]) for e in path[deal])
        assert all(e["rep_id"] == created[deal]["rep_id"] and e.get("lead_id") == created[deal].get("lead_id")
                   for e in path[deal])  # fmt: skip
        steps = list(zip(stages, stages[1:], strict=False))
        skipped += bool(stages and stages[0] > 0) or any(b - a > 1 for a, b in steps)
        back += any(b < a for a, b in steps)
        revised += any("amount" in e for e in path[deal])
    won = [d for d in done if closed[d]["type"] == "deal.won"]
    assert sum(1 for d in won if path[d] and path[d][-1]["stage"] == "negotiation") > 0.7 * len(won)
    assert 0.05 < skipped / len(done) < 0.5 and 0 < back / len(done) < 0.15 and 0.05 < revised / len(done)
    assert sum(1 for d in done if not path[d]) > 0, "some lost deals never get past created"


@pytest.mark.parametrize(("teams", "reps"), [(3, 8), (3, 5)])
def test_targets_are_realistic_and_add_up(teams: int, reps: int) -> None:
    cfg = FloorConfig(seed=14, start=START, end=START + timedelta(days=7), teams=teams, reps_per_team=reps)
    events = list(generate(cfg))
    targets = [e for e in events if e["type"] == "target.set"]
    assert {e["metric"] for e in targets} == set(TARGET_METRICS)
    monthly = [e for e in targets if e["period"] == "2026-11"]
    assert len(monthly) == teams * (reps + 1) * len(TARGET_METRICS)
    assert {e["occurred_at"] for e in monthly} == {"2026-11-23T00:00:00.000Z"}
    won = [e["value"] for e in monthly if e["metric"] == "won_amount" and "rep_id" in e]
    assert all(10_000 <= v < 100_000 for v in won), won  # tens of thousands, as on real floors
    for team in {e["team_id"] for e in targets}:
        for period in {e["period"] for e in targets}:
            for metric in TARGET_METRICS:
                these = [e for e in targets if (e["team_id"], e["period"], e["metric"]) == (team, period, metric)]
                if these:
                    total = [e["value"] for e in these if "rep_id" not in e]
                    assert total == [sum(e["value"] for e in these if "rep_id" in e)]
    daily = [e for e in targets if len(e["period"]) == 10]
    assert {e["metric"] for e in daily} == set(DAILY_METRICS)
    days = sorted({e["period"] for e in daily})
    assert days == ["2026-11-23", "2026-11-24", "2026-11-25", "2026-11-26", "2026-11-27", "2026-11-30"]
    assert all(e["occurred_at"] == e["period"] + "T00:00:00.000Z" for e in daily)
    # the daily activity targets fit what reps really do on a working day (Mon-Fri of the week)
    friday = epoch_ms((START + timedelta(days=5)).isoformat())
    for metric, kind in (("calls_outbound", "call.completed"), ("emails_sent", "email.sent")):
        done = sum(
            1 for e in events if e["type"] == kind and ms(e) < friday and e.get("direction", "outbound") == "outbound"
        )
        goal = sum(
            e["value"] for e in daily if e["metric"] == metric and "rep_id" not in e and e["period"] < "2026-11-28"
        )
        assert 0.7 < done / goal < 1.4, (metric, done, goal)


def test_targets_follow_the_business_time_zone() -> None:
    cfg = FloorConfig(
        seed=15, start=datetime(2026, 11, 30, 12, tzinfo=UTC), end=datetime(2026, 12, 2, 12, tzinfo=UTC),
        tz="Europe/Berlin", teams=1, reps_per_team=2,
    )  # fmt: skip
    targets = [e for e in generate(cfg) if e["type"] == "target.set"]
    assert {e["period"] for e in targets} == {"2026-11", "2026-12", "2026-11-30", "2026-12-01", "2026-12-02"}
    starts = {e["period"]: e["occurred_at"] for e in targets}
    assert starts["2026-11"] == starts["2026-11-30"] == "2026-11-30T12:00:00.000Z"  # the simulation start
    assert starts["2026-12"] == starts["2026-12-01"] == "2026-11-30T23:00:00.000Z"  # local midnight
    assert starts["2026-12-02"] == "2026-12-01T23:00:00.000Z"


def is_period(text: str) -> bool:
    try:
        datetime.strptime(text, "%Y-%m-%d" if len(text) == 10 else "%Y-%m")  # noqa: DTZ007 - a date, no time
    except ValueError:
        return False
    return re.fullmatch(r"\d{4}-\d{2}(-\d{2})?", text) is not None


def test_the_new_malformed_kinds_break_what_they_say() -> None:
    base = next(e for e in generate(DAY) if e["type"] == "call.completed")
    rng = random.Random(3)
    now = time.time() * 1000
    for _ in range(50):
        stage = orjson.loads(malformed_value(rng, base, "bad_stage")[0])
        assert stage["type"] == "deal.stage_changed" and stage["stage"] not in STAGES
        outcome = orjson.loads(malformed_value(rng, base, "bad_meeting_outcome")[0])
        assert outcome["type"] == "meeting.completed" and outcome["outcome"] not in MEETING_OUTCOMES
        target = orjson.loads(malformed_value(rng, base, "bad_target")[0])
        assert target["metric"] not in TARGET_METRICS or not is_period(target["period"])
        unscheduled = orjson.loads(malformed_value(rng, base, "no_scheduled_for")[0])
        assert unscheduled["type"] == "meeting.scheduled" and unscheduled.get("scheduled_for") is None
        calendar = orjson.loads(malformed_value(rng, base, "bad_calendar")[0])
        assert calendar["type"] == "calendar.set" and calendar["team_id"] == base["team_id"]
        for event in (base, {**base, "occurred_at": "2031-01-01T00:00:00.000Z"}):
            future = orjson.loads(malformed_value(rng, event, "future")[0])
            ahead = ms(future)
            assert ahead >= ms(event) + 86_400_000 and ahead >= now + 86_400_000
            assert future["event_id"] != event["event_id"] and STAMP.match(future["occurred_at"])
    assert set(REASONS_OF_KIND) == set(MALFORMED_KINDS)


def test_business_time_zone_shapes_the_day() -> None:
    cfg = FloorConfig(seed=4, start=START, end=START + timedelta(days=5), tz="America/New_York")
    leads = [e for e in generate(cfg) if e["type"] == "lead.created"]
    hours = collections.Counter(datetime.fromisoformat(e["occurred_at"]).astimezone(cfg_zone(cfg)).hour for e in leads)
    assert sum(hours[h] for h in range(8, 18)) > 3 * sum(hours[h] for h in (*range(0, 8), *range(18, 24)))


def cfg_zone(cfg: FloorConfig) -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo(cfg.tz)


def test_max_events_and_end_stop_the_stream() -> None:
    assert (
        len(list(generate(FloorConfig(seed=5, start=START, end=START + timedelta(days=30), max_events=1234)))) == 1234
    )
    short = list(generate(FloorConfig(seed=5, start=START, end=START + timedelta(minutes=1))))
    assert all(ms(e) <= epoch_ms(START.isoformat()) + 60_000 for e in short)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        FloorConfig(start=START, end=START - timedelta(seconds=1))
    with pytest.raises(ValueError):
        FloorConfig(start=START.replace(tzinfo=None), end=START)
    with pytest.raises(ValueError):
        FloorConfig(start=START, end=START, conversion=1.5)
    for bad in ({"meeting_share": 1.2}, {"meeting_lift": 0.5}, {"deal_stages": ()}, {"deal_stages": ("created",)}):
        with pytest.raises(ValueError):
            FloorConfig(start=START, end=START, **bad)


def test_200k_events_generate_quickly() -> None:
    cfg = FloorConfig(seed=6, start=START, end=START + timedelta(days=400), max_events=200_000)
    began = time.perf_counter()
    count = sum(1 for _ in generate(cfg))
    took = time.perf_counter() - began
    print(f"\ngenerated {count} events in {took:.2f}s: {count / took:,.0f} events/s")
    assert count == 200_000


# --- distort -------------------------------------------------------------------------------------------


def labeled(
    events: list[dict[str, Any]],
    *,
    duplicate: float = 0.0,
    late: float = 0.0,
) -> list[tuple[bytes, str]]:
    return list(distort_labeled(events, seed=11, duplicate=duplicate, late=late))


def test_no_distortion_is_plain_serialization(day: list[dict[str, Any]]) -> None:
    assert list(distort(day, seed=1)) == [orjson.dumps(e) for e in day]


def test_duplicates_are_identical_bytes_arriving_a_little_later(day: list[dict[str, Any]]) -> None:
    out = labeled(day, duplicate=0.1)
    dups = [i for i, (_, label) in enumerate(out) if label == "duplicate"]
    assert 0.07 * len(day) < len(dups) < 0.13 * len(day)
    assert len(out) == len(day) + len(dups)
    values = [v for v, _ in out]
    for i in dups:
        first = values.index(values[i])
        assert first < i <= first + 70  # at most 50 events later, plus the duplicates released meanwhile
    assert collections.Counter(values) == collections.Counter(
        [orjson.dumps(e) for e in day] + [values[i] for i in dups]
    )


def test_shuffle_reorders_but_keeps_every_message(day: list[dict[str, Any]]) -> None:
    original = [orjson.dumps(e) for e in day]
    shuffled = list(distort(day, seed=3, shuffle=0.2))
    assert shuffled != original
    assert sorted(shuffled) == sorted(original)
    moved = [shuffled.index(v) - i for i, v in enumerate(original)]
    assert max(moved) <= 500
    assert sum(1 for e, v in zip(day, shuffled, strict=True) if orjson.dumps(e) != v) > 0.1 * len(day)


def test_late_copies_are_new_events_60_to_90_days_old(day: list[dict[str, Any]]) -> None:
    out = labeled(day, late=0.05)
    late = [orjson.loads(v) for v, label in out if label == "late"]
    assert 0.02 * len(day) < len(late) < 0.08 * len(day)
    ids = {e["event_id"] for e in day}
    newest = max(ms(e) for e in day)
    for event in late:
        assert event["event_id"] not in ids
        assert ms(event) <= newest - 60 * 86_400_000
        decode_event(orjson.dumps(event))
    assert len(out) == len(day)


def test_malformed_messages_are_all_rejected_and_the_rest_decode(week: list[dict[str, Any]]) -> None:
    out = list(distort_labeled(week, seed=8, shuffle=0.05, duplicate=0.05, malformed=0.1, late=0.02))
    kinds: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    for value, label in out:
        assert b"\n" not in value
        if label.startswith("malformed/"):
            kinds[label] += 1
            reason = rejection(value)
            assert reason in REASONS_OF_KIND[label.removeprefix("malformed/")], (label, reason, value[:200])
            reasons[reason] += 1
        else:
            decode_event(value, currency="EUR")
    assert len(kinds) == len(MALFORMED_KINDS)
    assert 0.08 * len(week) < sum(kinds.values()) < 0.12 * len(week)
    assert len(reasons) >= 8, reasons


@pytest.mark.parametrize("kind", sorted(MALFORMED_KINDS))
def test_each_malformed_kind_is_rejected_for_every_event_type(kind: str, week: list[dict[str, Any]]) -> None:
    rng = random.Random(kind)
    samples = {e["type"]: e for e in week}
    samples["lead.unassigned"] = next(e for e in week if e["type"] == "lead.created" and not e["rep_id"])
    samples["target.team"] = next(e for e in week if e["type"] == "target.set" and "rep_id" not in e)
    assert len(samples) == len(TOPIC_OF_TYPE) + 2
    for event in samples.values():
        for _ in range(40):
            value, _ = malformed_value(rng, event, kind, currency="EUR")
            assert rejection(value) in REASONS_OF_KIND[kind], (kind, event["type"], value[:200])


def test_malformed_respects_the_configured_currency(day: list[dict[str, Any]]) -> None:
    rng = random.Random(1)
    for _ in range(50):
        value, _ = malformed_value(rng, day[0], "wrong_currency", currency="USD")
        with pytest.raises(InvalidEvent):
            decode_event(value, currency="USD")


def test_distort_is_deterministic_and_checks_shares(day: list[dict[str, Any]]) -> None:
    runs = [list(distort(day, seed=4, shuffle=0.1, duplicate=0.1, malformed=0.1, late=0.1)) for _ in range(2)]
    assert runs[0] == runs[1]
    with pytest.raises(ValueError):
        Distorter(seed=1, shuffle=1.5)


# --- raw values ------------------------------------------------------------------------------------------


def test_jsonl_round_trip_keeps_every_byte(tmp_path: Path, day: list[dict[str, Any]]) -> None:
    values = list(distort(day[:2000], seed=2, malformed=0.3, duplicate=0.1))
    values += [b"", b"\xff\xfe\r", b"\x00"]
    path = tmp_path / "floor.jsonl"
    assert write_jsonl(values, path) == len(values)
    assert list(read_jsonl(path)) == values
    with pytest.raises(ValueError):
        write_jsonl([b"a\nb"], tmp_path / "bad.jsonl")


def test_topic_for_value_follows_the_type(week: list[dict[str, Any]]) -> None:
    for kind, topic in TOPIC_OF_TYPE.items():
        event = next(e for e in week if e["type"] == kind)
        assert topic_for_value(orjson.dumps(event)) == topic
    for junk in (b"\xff\x00", b"[1]", b'{"type": "nope"}', b"", b'{"type": 3}'):
        assert topic_for_value(junk) in INPUT_TOPICS
        assert topic_for_value(junk) == topic_for_value(junk)


def test_key_modes(week: list[dict[str, Any]]) -> None:
    for event in week[:500]:
        value = orjson.dumps(event)
        expected = spec_key(event)
        assert key_for_value(value, "spec") == (expected.encode() if expected else None)
        assert key_for_value(value, "none") is None
    lead = next(e for e in week if e["type"] == "lead.created")
    assert key_for_value(orjson.dumps(lead), "spec") == lead["lead_id"].encode()
    randoms = {key_for_value(b"{}", "random") for _ in range(100)}
    assert len(randoms) == 100
    assert key_for_value(b"\xff", "spec") is None
    with pytest.raises(ValueError):
        key_for_value(b"{}", "bogus")


# --- real time -----------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        self.slept += seconds


async def test_realtime_follows_the_clock_at_the_asked_rate() -> None:
    clock = FakeClock(datetime(2026, 11, 24, 3, 0, tzinfo=UTC).timestamp())  # night: the demo has no rhythm
    began = clock.now
    cfg = realtime_config(FloorConfig(seed=1, start=START, end=START), rate=20.0)
    events = []
    stream = generate_realtime(cfg, clock=clock, sleep=clock.sleep)
    async for event in stream:
        assert epoch_ms(event["occurred_at"]) / 1000 <= clock.now + 0.001
        events.append(event)
        if len(events) == 9000:  # the backlog (deals, their stages, booked meetings) comes first
            break
    await stream.aclose()
    fresh = [e for e in events if epoch_ms(e["occurred_at"]) / 1000 >= began]
    backlog = [e for e in events if epoch_ms(e["occurred_at"]) / 1000 < began]
    assert {e["type"] for e in backlog} <= BACKLOG_TYPES
    assert fresh and clock.slept > 0
    rate = len(fresh) / (clock.now - began)
    assert 10 < rate < 40, rate
    for event in events:
        decode_event(orjson.dumps(event))
    assert {"deal.won", "deal.lost"} & {e["type"] for e in fresh}
    assert {"meeting.completed", "deal.stage_changed"} <= {e["type"] for e in fresh}  # compressed for the demo


async def test_realtime_backfills_from_a_past_start_then_follows_the_clock() -> None:
    clock = FakeClock(datetime(2026, 11, 24, 15, 0, tzinfo=UTC).timestamp())
    began = clock.now
    since = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    cfg = FloorConfig(seed=4, start=since, end=since, diurnal=False)
    counts: list[int] = []
    events = []
    stream = generate_realtime(cfg, since=since, caught_up=counts.append, clock=clock, sleep=clock.sleep)
    async for event in stream:
        events.append(event)
        if clock.now > began + 600:
            break
    await stream.aclose()
    assert len(counts) == 1 and clock.slept > 0
    backfill = events[: counts[0]]
    assert all(epoch_ms(e["occurred_at"]) / 1000 <= began for e in backfill)
    assert all(epoch_ms(e["occurred_at"]) / 1000 > began for e in events[counts[0] :])
    assert {"deal.created", "email.replied", "meeting.completed"} <= {e["type"] for e in backfill}
    # the same floor as `generate` from that start: a rerun from the same start repeats its event ids
    again = list(generate(dataclasses.replace(cfg, end=datetime.fromtimestamp(began, UTC))))
    assert backfill == again


def demo_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_demo(parser)
    return parser.parse_args(list(argv))


def test_the_demo_backfills_the_previous_month_at_a_real_floors_pace() -> None:
    settings = load_settings(timezone="Europe/Warsaw")
    now = datetime(2026, 12, 20, 11, 0, tzinfo=UTC)
    plan = plan_demo(demo_args(), settings, now)
    assert plan.since == datetime(2026, 11, 1, tzinfo=settings.zone)  # growth compares with that month
    assert 0.03 < plan.rate < 0.2 and plan.expected_backfill < MAX_BACKFILL_EVENTS
    assert plan.floor.cycle_median_days > 5 and not plan.floor.diurnal  # real sales cycles, around the clock
    assert not plan.floor.calendars  # so every hour is a business hour: the wall clock
    _, month = expected_per_rep(plan.floor, 2026, 12)
    assert 10_000 < month["won_amount"] < 100_000  # a rep's monthly won target: tens of thousands
    env = worker_env(plan, settings, {})
    assert float(env["SALESFLOOR_RETENTION_DAYS"]) >= (now - plan.since).days + plan.floor.backlog_days
    chosen = {"SALESFLOOR_RETENTION_DAYS": "40"}  # the user's choice stands
    assert worker_env(plan, settings, chosen) == chosen

    today = plan_demo(demo_args("--backfill", "today"), settings, now)
    assert today.since == datetime(2026, 12, 20, tzinfo=settings.zone)
    assert worker_env(today, settings, {}) == {}  # within the default retention
    live = plan_demo(demo_args("--backfill", "none"), settings, now)
    assert live.since is None and live.floor.cycle_median_days < 1  # wins within hours without a backfill
    busy = plan_demo(demo_args("--rate", "25"), settings, now)
    assert busy.expected_backfill <= MAX_BACKFILL_EVENTS and busy.since is not None
    assert busy.since >= datetime(2026, 12, 20, tzinfo=settings.zone) and busy.since.minute == 0


def test_progress_shows_the_current_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    stats = ProduceStats(started=100.0)
    now[0], stats.acked = 110.0, 50_000  # a fast start: 5,000/s
    assert stats.current_rate() == pytest.approx(5000)
    now[0], stats.acked = 115.0, 50_010  # then a trickle
    assert stats.current_rate() == pytest.approx(2)
    assert "2 msg/s now" in (summary := stats.summary()) and "on average" in summary


# --- produce ---------------------------------------------------------------------------------------------


class FakeProducer:
    def __init__(self, *, fail_every: int = 0) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.started = self.stopped = False
        self.fail_every = fail_every
        self.futures: list[asyncio.Future[Any]] = []

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def send(self, topic: str, value: bytes, *, key: bytes | None = None) -> asyncio.Future[Any]:
        self.sent.append((topic, value, key))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        failing = self.fail_every and len(self.sent) % self.fail_every == 0

        def settle() -> None:
            if failing:
                future.set_exception(RuntimeError("broker said no"))
            else:
                future.set_result(None)

        asyncio.get_running_loop().call_later(0.05, settle)  # acks come later than send() returns
        self.futures.append(future)
        return future


async def test_produce_sends_everything_to_its_topic_and_awaits_acks(day: list[dict[str, Any]]) -> None:
    values = list(distort(day, seed=1, malformed=0.05))
    fake = FakeProducer()
    settings = load_settings(topic_prefix="test.")
    reports: list[object] = []
    stats = await produce(
        iter(values), settings=settings, keys="spec", progress=reports.append, producer_factory=lambda _: fake
    )
    assert fake.started and fake.stopped
    assert all(f.done() for f in fake.futures)
    assert stats.queued == stats.acked == len(values) and stats.failed == 0
    assert [v for _, v, _ in fake.sent] == values
    assert all(t == "test." + topic_for_value(v) for t, v, _ in fake.sent)
    assert all(k == key_for_topic(v, topic_for_value(v), "spec") for _, v, k in fake.sent)
    assert all(k is not None for t, _, k in fake.sent if t == "test.targets")
    assert sum(stats.by_topic.values()) == len(values) and reports


async def test_produce_counts_failures_and_paces_to_the_rate() -> None:
    fake = FakeProducer(fail_every=10)
    values = [orjson.dumps({"type": "lead.created", "n": i}) for i in range(60)]
    began = time.monotonic()
    stats = await produce(
        values,
        settings=load_settings(),
        keys="none",
        rate=300.0,
        progress=lambda s: None,
        producer_factory=lambda _: fake,
    )
    took = time.monotonic() - began
    assert stats.failed == 6 and stats.acked == 54 and stats.first_error
    assert took >= 59 / 300 - 0.02
    assert all(k is None for _, _, k in fake.sent)


# --- CLI -------------------------------------------------------------------------------------------------


def simulate_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    configure_simulate(parser)
    return parser.parse_args(list(argv))


def test_cli_rejects_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    for bad in (
        ["--shuffle", "1.5"],
        ["--late", "-0.1"],
        ["--teams", "0"],
        ["--rate", "0"],
        ["--keys", "odd"],
        ["--start", "monday"],
        ["--malformed", "x"],
    ):
        with pytest.raises(SystemExit):
            simulate_args(*bad)
    parser = argparse.ArgumentParser()
    configure_produce(parser)
    args = parser.parse_args(["f.jsonl", "--rate", "100", "--keys", "random"])
    assert args.rate == 100 and args.keys == "random"
    simulate = argparse.ArgumentParser()
    configure_simulate(simulate)
    assert all(action.help for action in parser._actions + simulate._actions)  # noqa: SLF001 - argparse has no public list


async def test_cli_simulate_to_a_file(tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    args = simulate_args(
        "--start",
        "2026-11-23",
        "--end",
        "2026-11-23T12:00",
        "--teams",
        "2",
        "--reps",
        "4",
        "--seed",
        "9",
        "--malformed",
        "0.05",
        "--duplicates",
        "0.05",
        "--shuffle",
        "0.1",
        "--late",
        "0.01",
        "--out",
        str(out),
    )
    assert await run_simulate(args, load_settings()) == 0
    values = list(read_jsonl(out))
    assert len(values) > 300
    valid = 0
    calendars = set()
    for value in values:
        try:
            event = decode_event(value)
        except InvalidEvent:
            continue
        valid += 1
        assert event.team_id in {"team-north", "team-south"}
        if isinstance(event, CalendarSet):
            calendars.add(event.team_id)
    assert 0.85 * len(values) < valid < len(values)
    assert calendars == {"team-north"}  # team-south keeps the wall clock

"""Unit tests of the reference computation's breakdowns (by source, by response time, by contacts before
conversion; team and floor only) and of the two productivity ratios (deals per 1000 calls, won amount
per talk hour). Expected values are worked out by hand from SPEC.md §4 and docs/kpi-rules.md.

As in test_reference: now = 2026-11-22 12:00:30 UTC (a Sunday), time zone UTC, SLA 300 s.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from streams.audit.reference import compute, format_report, parse_time, to_us
from streams.audit.views import MINUTE_US, Windows
from streams.sim.simulator import FloorConfig, generate
from tests.unit.test_reference import ALL, YESTERDAY, at, call, deal, email, ev, lead, run, val
from tests.unit.test_reference_meetings import meeting

SOURCES = ("inbound_web", "inbound_phone", "referral", "outbound", "event", "partner", "other", "unknown")
RESPONSES = ("le_5m", "le_1h", "le_24h", "gt_24h", "none")
CONTACTS = ("0", "1", "2", "3-4", "5-7", "8-12", "13+")
WINDOWS = ("today", "month", "last_60m")
# breakdown metric -> its label and closed list (None: a ratio, exported only over a non-empty bucket)
BREAKDOWNS: dict[str, tuple[str, tuple[str, ...] | None]] = {
    "salesfloor_leads_created_by_source": ("source", SOURCES),
    "salesfloor_leads_converted_by_source": ("source", SOURCES),
    "salesfloor_won_amount_by_source": ("source", SOURCES),
    "salesfloor_leads_by_response": ("response", RESPONSES),
    "salesfloor_lead_conversion_ratio_by_response": ("response", None),
    "salesfloor_leads_converted_by_contacts": ("contacts", CONTACTS),
}

Result = dict[Any, float]


def bd(r: Result, name: str, team: str = ALL, window: str = "today", **label: str) -> float | None:
    """A breakdown series: labels {team, window, <label>}, no rep."""
    return val(r, name, team, None, window, **label)


def by(r: Result, name: str, team: str = ALL, window: str = "today") -> dict[str, float]:
    """{label value: series value} of one breakdown metric, team and window."""
    label = BREAKDOWNS[name][0]
    out = {}
    for metric, labels in r:
        found = dict(labels)
        if metric == name and found["team"] == team and found["window"] == window:
            out[found[label]] = r[(metric, labels)]
    return out


def zeros(values: tuple[str, ...], **nonzero: float) -> dict[str, float]:
    return {v: float(nonzero.get(v, 0)) for v in values}


# ----------------------------------------------------------------------------------------- sources


def test_leads_created_and_converted_by_every_source_team_and_floor() -> None:
    events = [lead(f"L-{s}", at("10:00"), source=s) for s in SOURCES[:-1]]
    events += [
        lead("NOSRC", at("10:10")),  # no source: unknown
        lead("NULLSRC", at("10:20"), source=None),  # null source: unknown
        lead("T2", at("10:30"), team="t2", rep="r2", source="referral"),
        deal("created", "D1", at("11:00"), 10, "L-inbound_web", team="t2", rep="r2"),  # cohort: lead's team
        deal("created", "D2", at("11:10"), 10, "NOSRC"),
        deal("created", "D3", at("11:20"), 10, "NOSRC"),  # a second deal: still one converted lead
        deal("created", "D4", at("11:30"), 10, "UNSEEN"),  # creation never seen: no lead KPI
    ]
    r = run(events)
    one_each = dict.fromkeys(SOURCES[:-1], 1.0)
    assert by(r, "salesfloor_leads_created_by_source", "t1") == one_each | {"unknown": 2.0}
    assert by(r, "salesfloor_leads_created_by_source", "t2") == zeros(SOURCES, referral=1)
    assert by(r, "salesfloor_leads_created_by_source") == one_each | {"referral": 2.0, "unknown": 2.0}
    assert by(r, "salesfloor_leads_converted_by_source", "t1") == zeros(SOURCES, inbound_web=1, unknown=1)
    assert by(r, "salesfloor_leads_converted_by_source", "t2") == zeros(SOURCES)
    assert by(r, "salesfloor_leads_converted_by_source") == zeros(SOURCES, inbound_web=1, unknown=1)
    assert by(r, "salesfloor_leads_created_by_source", window="last_60m") == zeros(SOURCES)  # all before 11:01


def test_source_is_that_of_the_earliest_lead_created_and_duplicates_are_ignored() -> None:
    r = run(
        [
            lead("A", at("10:00"), source="referral"),
            lead("A", at("11:00"), source="partner"),  # a later lead.created changes nothing
            lead("A", at("09:00"), source="event", eid="first"),  # earlier, arriving later: the creation
            lead("B", at("09:30"), source="other", eid="first"),  # a repeated event_id: ignored
        ]
    )
    assert by(r, "salesfloor_leads_created_by_source", "t1") == zeros(SOURCES, event=1)


def test_conversion_today_raises_yesterdays_converted_by_source() -> None:
    events = [lead("A", at("10:00", day=21), source="partner"), deal("created", "D1", at("09:00"), 5, "A")]
    past = run(events, day=YESTERDAY)
    assert by(past, "salesfloor_leads_converted_by_source", "t1") == zeros(SOURCES, partner=1)
    now = run(events)
    assert by(now, "salesfloor_leads_converted_by_source", "t1") == zeros(SOURCES)
    assert by(now, "salesfloor_leads_converted_by_source", "t1", "month") == zeros(SOURCES, partner=1)


def test_won_amount_by_the_source_of_the_deal_won_events_own_lead() -> None:
    r = run(
        [
            lead("REF", at("08:00"), source="referral"),
            lead("EVT", at("08:00"), source="event"),
            lead("NOSRC", at("08:00")),
            lead("PART", at("08:00"), source="partner"),
            deal("won", "D1", at("10:00"), 100, "REF"),
            deal("won", "D1", at("10:30"), 100, "REF"),  # a second deal.won event counts, as in won_amount
            deal("won", "D2", at("10:00"), 50),  # no lead_id: unknown
            deal("won", "D3", at("10:00"), 25, "NEVER"),  # a lead never seen created: unknown
            deal("won", "D4", at("10:00"), 10, "NOSRC"),  # a seen lead without source: unknown
            deal("created", "D5", at("09:00"), 7, "REF"),
            deal("won", "D5", at("10:00"), 7, "EVT"),  # the deal.won's own lead_id, not the deal.created's
            deal("created", "D6", at("09:00"), 3, "REF"),
            deal("won", "D6", at("10:00"), 3),  # none on the deal.won itself: unknown
            deal("won", "D7", at("10:00"), 200, "PART", team="t2", rep="r2"),  # the deal's team
            deal("lost", "D8", at("10:00"), 999, "REF"),  # lost amounts are no won amount
        ]
    )
    assert by(r, "salesfloor_won_amount_by_source", "t1") == zeros(SOURCES, referral=200, event=7, unknown=88)
    assert by(r, "salesfloor_won_amount_by_source", "t2") == zeros(SOURCES, partner=200)
    assert by(r, "salesfloor_won_amount_by_source") == zeros(SOURCES, referral=200, event=7, partner=200, unknown=88)
    for team in ("t1", "t2", ALL):
        total = sum(by(r, "salesfloor_won_amount_by_source", team).values())
        assert total == val(r, "salesfloor_won_amount", team)
    assert by(r, "salesfloor_won_amount_by_source", window="last_60m") == zeros(SOURCES)


# ---------------------------------------------------------------------------------------- response


def test_response_buckets_edges_in_integer_microseconds() -> None:
    events = [
        lead("A", at("10:00", day=21)),
        call(at("10:05", day=21), "A"),  # exactly 300 s: le_5m
        lead("B", at("10:00", day=21)),
        email("mB", "2026-11-21T10:05:00.000001Z", "B"),  # 300 s + 1 µs: le_1h
        lead("C", at("10:00", day=21)),
        call(at("11:00", day=21), "C"),  # exactly 3600 s: le_1h
        lead("D", at("10:00", day=21)),
        call("2026-11-21T11:00:00.000001Z", "D"),  # 3600 s + 1 µs: le_24h
        lead("E", at("10:00", day=20)),
        call(at("10:00", day=21), "E"),  # exactly 86400 s: le_24h
        lead("F", at("10:00", day=20)),
        call("2026-11-21T10:00:00.000001Z", "F"),  # 86400 s + 1 µs: gt_24h
        lead("G", at("10:00", day=21)),
        ev("lead.disqualified", at("10:01", day=21), lead_id="G"),  # no contact at all: none
        lead("H", at("10:00", day=21)),
        deal("created", "DH", at("10:02", day=21), 5, "H"),  # converted without contact: none
        lead("I", at("10:00", day=21)),
        call(at("09:00", day=21), "I"),  # a contact before the creation: response 0, le_5m
        lead("J", at("10:00", day=21)),
        call(at("10:01", day=21), "J", direction="inbound", outcome="no_answer"),  # no contact
        call(at("12:00", day=21), "J"),  # 7200 s: le_24h
        deal("created", "DA", at("09:00"), 5, "A"),
        deal("created", "DF", at("09:00"), 5, "F"),
    ]
    r = run(events)
    month = by(r, "salesfloor_leads_by_response", "t1", "month")
    assert month == {"le_5m": 2, "le_1h": 2, "le_24h": 3, "gt_24h": 1, "none": 2}
    assert sum(month.values()) == val(r, "salesfloor_leads_created", "t1", window="month") == 10
    assert by(r, "salesfloor_lead_conversion_ratio_by_response", "t1", "month") == {
        "le_5m": 0.5,
        "le_1h": 0.0,
        "le_24h": 0.0,
        "gt_24h": 1.0,
        "none": 0.5,
    }
    assert by(r, "salesfloor_leads_by_response", "t1") == zeros(RESPONSES)  # nothing created today
    assert by(r, "salesfloor_lead_conversion_ratio_by_response", "t1") == {}

    past = run(events, day=YESTERDAY)  # E and F were created on the 20th
    assert by(past, "salesfloor_leads_by_response", "t1") == {
        "le_5m": 2,
        "le_1h": 2,
        "le_24h": 2,
        "gt_24h": 0,
        "none": 2,
    }
    assert by(past, "salesfloor_lead_conversion_ratio_by_response", "t1") == {
        "le_5m": 0.5,
        "le_1h": 0.0,
        "le_24h": 0.0,
        "none": 0.5,
    }


def test_a_late_earlier_contact_moves_the_lead_to_an_earlier_bucket() -> None:
    events = [lead("A", at("10:00")), call(at("11:30"), "A")]
    before = run(events)
    assert by(before, "salesfloor_leads_by_response", "t1") == zeros(RESPONSES, le_24h=1)
    after = run([*events, email("m1", at("10:02"), "A", rep="r2")])  # arrives last, stamped earlier
    assert by(after, "salesfloor_leads_by_response", "t1") == zeros(RESPONSES, le_5m=1)
    assert by(after, "salesfloor_leads_by_response") == zeros(RESPONSES, le_5m=1)


def test_a_lead_leaves_none_when_contacted() -> None:
    events = [lead("A", at("10:00"))]
    assert by(run(events), "salesfloor_leads_by_response", "t1") == zeros(RESPONSES, none=1)
    assert by(run([*events, call(at("11:59"), "A")]), "salesfloor_leads_by_response", "t1") == zeros(
        RESPONSES, le_24h=1
    )


def test_a_held_meeting_is_a_first_contact_and_a_corrected_one_is_not() -> None:
    r = run(
        [
            lead("A", at("10:00")),
            meeting("completed", "M0", at("10:01"), "A", "no_show"),  # no contact
            meeting("completed", "M1", at("10:04"), "A", "held"),  # 240 s: le_5m
            call(at("10:20"), "A"),
            lead("K", at("10:00")),
            meeting("completed", "M2", at("10:02"), "K", "held"),
            meeting("completed", "M2", at("10:03"), "K", "no_show"),  # the held contact is gone
            call(at("11:00"), "K"),  # 3600 s: le_1h
            deal("created", "DK", at("11:30"), 5, "K"),
        ]
    )
    assert by(r, "salesfloor_leads_by_response", "t1") == zeros(RESPONSES, le_5m=1, le_1h=1)
    assert by(r, "salesfloor_lead_conversion_ratio_by_response", "t1") == {"le_5m": 0.0, "le_1h": 1.0}


# ---------------------------------------------------------------------------------------- contacts


def test_converted_by_contacts_bucket_edges_at_the_deals_time_and_team() -> None:
    events: list[dict[str, Any]] = []
    for i, n in enumerate([0, 1, 2, 3, 4, 5, 7, 8, 12, 13]):
        lead_id = f"L{i}"
        events.append(lead(lead_id, at(f"08:{i:02d}")))
        events += [call(at(f"09:{i:02d}:{k:02d}"), lead_id) for k in range(n)]
        events.append(call(at("11:30"), lead_id))  # at the conversion's time: not strictly earlier
        events.append(deal("created", f"D{i}", at("11:30"), 10, lead_id, team="t2", rep="r2"))
        events.append(deal("created", f"E{i}", at("11:40"), 10, lead_id, team="t3", rep="r3"))  # no conversion
    events += [call(at("09:00"), "NEVER"), deal("created", "DN", at("11:30"), 10, "NEVER", team="t2")]
    r = run(events)
    expected = {"0": 1, "1": 1, "2": 1, "3-4": 2, "5-7": 2, "8-12": 2, "13+": 1}
    for window in WINDOWS:
        assert by(r, "salesfloor_leads_converted_by_contacts", "t2", window) == expected
        assert by(r, "salesfloor_leads_converted_by_contacts", window=window) == expected
        assert by(r, "salesfloor_leads_converted_by_contacts", "t1", window) == zeros(CONTACTS)  # lead's team
        assert by(r, "salesfloor_leads_converted_by_contacts", "t3", window) == zeros(CONTACTS)
    # the same notion of contacts before conversion as contacts_before_conversion_avg
    assert val(r, "salesfloor_contacts_before_conversion_avg", "t2") == 55 / 10
    # the cohort of creation stays with the lead's team
    assert by(r, "salesfloor_leads_converted_by_source", "t1") == zeros(SOURCES, unknown=10)


def test_converted_by_contacts_counts_on_the_conversions_day() -> None:
    events = [
        lead("A", at("10:00", day=21)),
        email("m1", at("10:01", day=21), "A"),
        deal("created", "D1", at("09:00"), 5, "A"),
    ]
    assert by(run(events), "salesfloor_leads_converted_by_contacts", "t1") == zeros(CONTACTS, **{"1": 1})
    assert by(run(events, day=YESTERDAY), "salesfloor_leads_converted_by_contacts", "t1") == zeros(CONTACTS)


# ------------------------------------------------------------------------------------------- series


def test_breakdowns_have_team_and_floor_series_only_without_rep_with_zeros_for_the_closed_lists() -> None:
    r = run(
        [
            lead("A", at("10:00"), source="referral"),
            call(at("11:00"), rep="r7", team="t7", outcome="no_answer"),  # t7 has data, no lead
        ]
    )
    for name, (label, values) in BREAKDOWNS.items():
        found = [dict(labels) for metric, labels in r if metric == name]
        assert all(set(labels) == {"team", "window", label} for labels in found), name
        if values is None:
            continue
        assert {(f["team"], f["window"], f[label]) for f in found} == {
            (team, window, value) for team in ("t1", "t7", ALL) for window in WINDOWS for value in values
        }
    for window in WINDOWS:
        assert by(r, "salesfloor_leads_by_response", "t7", window) == zeros(RESPONSES)
        assert by(r, "salesfloor_lead_conversion_ratio_by_response", "t7", window) == {}
        assert by(r, "salesfloor_won_amount_by_source", "t7", window) == zeros(SOURCES)
    assert by(r, "salesfloor_lead_conversion_ratio_by_response") == {"none": 0.0}
    assert by(r, "salesfloor_lead_conversion_ratio_by_response", window="last_60m") == {}


def test_empty_log_exports_the_floors_zeros_and_no_ratio() -> None:
    r = run([])
    for name, (_label, values) in BREAKDOWNS.items():
        for window in WINDOWS:
            assert by(r, name, ALL, window) == ({} if values is None else zeros(values))
    assert {dict(labels)["team"] for metric, labels in r if metric in BREAKDOWNS} == {ALL}


def test_past_day_breakdowns_have_no_last_60m() -> None:
    r = run([lead("A", at("10:00", day=21))], day=YESTERDAY)
    assert by(r, "salesfloor_leads_created_by_source", "t1") == zeros(SOURCES, unknown=1)
    assert not [k for k in r if k[0] in BREAKDOWNS and ("window", "last_60m") in k[1]]


def test_format_report_prints_the_breakdowns() -> None:
    lines = format_report(run([lead("A", at("10:00"), source="referral")])).splitlines()
    assert 'salesfloor_leads_created_by_source{source="referral",team="t1",window="today"} 1' in lines
    assert 'salesfloor_leads_by_response{response="none",team="_all",window="month"} 1' in lines
    assert 'salesfloor_lead_conversion_ratio_by_response{response="none",team="t1",window="today"} 0' in lines
    assert 'salesfloor_leads_converted_by_contacts{contacts="13+",team="t1",window="today"} 0' in lines


# ------------------------------------------------------------------------------------ productivity


def test_deals_per_1000_calls_and_won_amount_per_talk_hour() -> None:
    r = run(
        [
            call(at("09:00"), duration_s=1200),
            call(at("09:10"), outcome="no_answer", duration_s=0),
            call(at("09:20"), duration_s=600),
            call(at("09:30"), direction="inbound", duration_s=1800),  # talk time, not an outbound call
            deal("won", "D1", at("10:00"), 300),
            deal("won", "D2", at("10:00"), 600),
            deal("won", "D3", at("10:00"), 100, rep="r2"),  # r2: no calls at all
            call(at("09:00"), outcome="no_answer", duration_s=0, rep="r3"),  # r3: a call, no talk, no deal
            call(at("09:00"), direction="inbound", duration_s=360, rep="r4"),  # r4: talk, no outbound call
            deal("won", "D4", at("10:00"), 50, rep="r4"),
        ]
    )

    def ratios(team: str, rep: str, window: str = "today") -> tuple[float | None, float | None]:
        return (
            val(r, "salesfloor_deals_per_1000_calls", team, rep, window),
            val(r, "salesfloor_won_amount_per_talk_hour", team, rep, window),
        )

    assert ratios("t1", "r1") == (pytest.approx(2000 / 3), pytest.approx(900.0))  # 900 over 3600 s of talk
    assert ratios("t1", "r2") == (None, None)
    assert ratios("t1", "r3") == (0.0, None)
    assert ratios("t1", "r4") == (None, pytest.approx(500.0))  # 50 over 0.1 h
    # team and floor from the events: 4 deals over 4 outbound calls, 1050 over 3960 s
    for team in ("t1", ALL):
        assert ratios(team, ALL) == (1000.0, pytest.approx(1050 / (3960 / 3600)))
        assert ratios(team, ALL, "month") == ratios(team, ALL)
        assert ratios(team, ALL, "last_60m") == (None, None)  # the calls are before 11:01


def test_productivity_ratios_per_window() -> None:
    r = run(
        [
            call(at("10:00", day=21), duration_s=7200),
            deal("won", "D1", at("10:00", day=21), 1000),
            call(at("11:30")),
            deal("won", "D2", at("11:40"), 10),
            deal("won", "D3", at("11:50"), 20),
        ]
    )
    assert val(r, "salesfloor_deals_per_1000_calls") == 2000.0
    assert val(r, "salesfloor_won_amount_per_talk_hour") == pytest.approx(30 / (60 / 3600))
    assert val(r, "salesfloor_deals_per_1000_calls", window="last_60m") == 2000.0
    assert val(r, "salesfloor_deals_per_1000_calls", window="month") == 1500.0
    assert val(r, "salesfloor_won_amount_per_talk_hour", window="month") == pytest.approx(1030 / (7260 / 3600))
    assert val(run([]), "salesfloor_deals_per_1000_calls") is None
    assert val(run([]), "salesfloor_won_amount_per_talk_hour") is None


# --------------------------------------------------------------------------------------- invariants


def conversions(events: list[dict[str, Any]], windows: Windows) -> dict[tuple[str, str], int]:
    """{(team, window): leads converted} counted independently: each created lead's earliest
    deal.created, at its time and team (the simulator's events are valid and unique)."""
    created = {e["lead_id"] for e in events if e["type"] == "lead.created"}
    first: dict[str, tuple[int, str, str]] = {}
    for e in events:
        if e["type"] == "deal.created" and e.get("lead_id") in created:
            stamp = (parse_time(e["occurred_at"]), e["event_id"], e["team_id"])
            first[e["lead_id"]] = min(first.get(e["lead_id"], stamp), stamp)
    out: dict[tuple[str, str], int] = defaultdict(int)
    for t, _event_id, team in first.values():
        for window in windows.of(t):
            out[(team, window)] += 1
            out[(ALL, window)] += 1
    return out


def assert_sums(r: Result, team: str, window: str, conversions: int) -> None:
    """The breakdowns of one team and window add up to the totals they break down."""

    def total(name: str) -> float:
        value = val(r, name, team, ALL, window)
        assert value is not None, (name, team, window)
        return value

    def count(name: str) -> float:
        return sum(by(r, name, team, window).values())

    assert count("salesfloor_leads_created_by_source") == total("salesfloor_leads_created")
    assert count("salesfloor_leads_by_response") == total("salesfloor_leads_created")
    assert count("salesfloor_leads_converted_by_source") == total("salesfloor_leads_converted")
    won = by(r, "salesfloor_won_amount_by_source", team, window)
    assert math.isclose(math.fsum(won.values()), total("salesfloor_won_amount"), rel_tol=1e-12, abs_tol=1e-9)
    created = by(r, "salesfloor_leads_by_response", team, window)
    ratio = by(r, "salesfloor_lead_conversion_ratio_by_response", team, window)
    assert set(ratio) == {bucket for bucket, leads in created.items() if leads > 0}
    assert round(math.fsum(ratio[bucket] * created[bucket] for bucket in ratio)) == total("salesfloor_leads_converted")
    assert count("salesfloor_leads_converted_by_contacts") == conversions
    average = val(r, "salesfloor_contacts_before_conversion_avg", team, ALL, window)
    assert (average is None) == (conversions == 0)


@pytest.mark.parametrize("tz", ["UTC", "America/New_York"])
def test_simulated_day_breakdowns_add_up_to_their_totals(tz: str) -> None:
    now = datetime(2026, 11, 24, 16, 0, 30, tzinfo=UTC)  # a Tuesday, in business hours in both zones
    config = FloorConfig(seed=7, teams=3, reps_per_team=5, start=now - timedelta(hours=30), end=now, tz=tz)
    events = list(generate(config))
    r = compute(events, now=now, tz=tz)
    zone = ZoneInfo(tz)
    converted = conversions(events, Windows(zone, now.astimezone(zone).date(), to_us(now) // MINUTE_US))
    teams = {dict(labels)["team"] for metric, labels in r if metric == "salesfloor_leads_created"}
    assert len(teams) == 4
    breakdown_teams = {dict(labels)["team"] for metric, labels in r if metric in BREAKDOWNS}
    assert breakdown_teams == teams
    for team in teams:
        for window in WINDOWS:
            assert_sums(r, team, window, converted.get((team, window), 0))
    # not an empty comparison
    month_sources = by(r, "salesfloor_leads_created_by_source", ALL, "month")
    assert sum(1 for n in month_sources.values() if n > 0) >= 4
    assert sum(1 for n in by(r, "salesfloor_leads_by_response", ALL, "month").values() if n > 0) >= 4
    assert sum(by(r, "salesfloor_leads_converted_by_contacts", ALL, "month").values()) > 0
    assert sum(by(r, "salesfloor_won_amount_by_source", ALL, "month").values()) > 0
    assert sum(by(r, "salesfloor_leads_created_by_source", ALL, "today").values()) > 0

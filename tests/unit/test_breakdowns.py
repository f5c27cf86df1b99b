"""The breakdowns of SPEC §4 and the two productivity ratios, through the real stages: bucket edges,
a lead moving between buckets as late contacts arrive, sources (and `unknown`), team-only labels."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from agents.kpis.breakdowns import CONTACTS_LABELS, RESPONSE_LABELS, SOURCE_LABELS, contacts_label, response_label
from agents.kpis.model import MICRO
from agents.web.wallboard import speed_to_lead
from tests.kpi_compare import key
from tests.unit.test_kpis_part2 import at, ev, kpis


def team_value(result: dict[Any, float], name: str, team: str = "north", window: str = "today", **labels: str) -> Any:
    return result.get(key(name, {"team": team, "window": window, **labels}))


@pytest.mark.parametrize(
    ("seconds", "bucket"),
    [(0, "le_5m"), (300, "le_5m"), (300.000001, "le_1h"), (301, "le_1h"), (3600, "le_1h"), (3601, "le_24h"),
     (86400, "le_24h"), (86400.000001, "gt_24h"), (40 * 86400, "gt_24h")],
)  # fmt: skip
def test_response_bucket_edges(seconds: float, bucket: str) -> None:
    assert response_label(round(seconds * MICRO)) == bucket


def test_no_contact_is_none_and_contacts_buckets_edges() -> None:
    assert response_label(None) == "none"
    edges = {
        0: "0",
        1: "1",
        2: "2",
        3: "3-4",
        4: "3-4",
        5: "5-7",
        7: "5-7",
        8: "8-12",
        12: "8-12",
        13: "13+",
        99: "13+",
    }
    assert {n: contacts_label(n) for n in edges} == edges
    assert {contacts_label(n) for n in range(30)} == set(CONTACTS_LABELS)


def call(when_h: float, lead: str = "L1", rep: str = "ann", **fields: Any) -> bytes:
    return ev("call.completed", at(when_h), rep=rep, call_id=f"c{when_h}{lead}", lead_id=lead, direction="outbound",
              outcome="no_answer", duration_s=0, **fields)  # fmt: skip


@pytest.mark.parametrize("late_first", [False, True])
def test_a_late_earlier_contact_moves_a_lead_to_its_earlier_bucket(late_first: bool) -> None:
    created = ev("lead.created", at(10), lead_id="L1", source="referral")
    slow = call(10 - 2)  # 2 h after creation
    fast = ev("email.sent", at(10) + timedelta(seconds=300), email_id="E1", lead_id="L1")  # 300 s: le_5m
    waiting = kpis([created])
    assert team_value(waiting, "salesfloor_leads_by_response", response="none") == 1
    assert team_value(waiting, "salesfloor_lead_conversion_ratio_by_response", response="none") == 0.0
    assert team_value(waiting, "salesfloor_lead_conversion_ratio_by_response", response="le_5m") is None
    answered = kpis([created, slow])
    assert team_value(answered, "salesfloor_leads_by_response", response="none") == 0
    assert team_value(answered, "salesfloor_leads_by_response", response="le_24h") == 1
    both = kpis([created, fast, slow] if late_first else [created, slow, fast])
    by_bucket = {b: team_value(both, "salesfloor_leads_by_response", response=b) for b in RESPONSE_LABELS}
    assert by_bucket == {"le_5m": 1, "le_1h": 0, "le_24h": 0, "gt_24h": 0, "none": 0}
    converted = kpis([created, slow, fast, ev("deal.created", at(1), deal_id="D1", lead_id="L1", amount=10)])
    assert team_value(converted, "salesfloor_lead_conversion_ratio_by_response", response="le_5m") == 1.0
    assert team_value(converted, "salesfloor_lead_conversion_ratio_by_response", response="le_24h") is None
    assert team_value(converted, "salesfloor_leads_converted_by_contacts", contacts="2") == 1


def test_sources_unknown_wins_and_team_only_series() -> None:
    events = [
        ev("lead.created", at(9), lead_id="L1", source="inbound_web"),
        ev("lead.created", at(9), team="south", lead_id="L2"),  # no source
        ev("deal.created", at(8), deal_id="D1", lead_id="L1", amount=500),
        ev("deal.won", at(7), deal_id="D1", lead_id="L1", amount=500),
        ev("deal.won", at(7), deal_id="D2", lead_id="L9", amount=70),  # a lead never seen created
        ev("deal.won", at(7), deal_id="D3", amount=30),  # no lead at all
        ev("deal.won", at(6), team="south", deal_id="D4", lead_id="L2", amount=5),
    ]
    result = kpis(events)
    won = {s: team_value(result, "salesfloor_won_amount_by_source", source=s) for s in SOURCE_LABELS}
    assert won == {**dict.fromkeys(SOURCE_LABELS, 0.0), "inbound_web": 500.0, "unknown": 100.0}
    assert team_value(result, "salesfloor_won_amount_by_source", team="south", source="unknown") == 5.0
    assert team_value(result, "salesfloor_won_amount_by_source", team="_all", source="unknown") == 105.0
    assert team_value(result, "salesfloor_leads_created_by_source", source="inbound_web") == 1
    assert team_value(result, "salesfloor_leads_converted_by_source", source="inbound_web") == 1
    assert team_value(result, "salesfloor_leads_created_by_source", team="south", source="unknown") == 1
    assert team_value(result, "salesfloor_leads_converted_by_source", team="_all", source="unknown") == 0
    assert team_value(result, "salesfloor_leads_converted_by_contacts", contacts="0") == 1
    suffixes = ("_by_source", "_by_response", "_by_contacts")
    breakdown_labels = {tuple(sorted(dict(labels))) for name, labels in result if name.endswith(suffixes)}
    assert breakdown_labels == {
        ("source", "team", "window"),
        ("response", "team", "window"),
        ("contacts", "team", "window"),
    }


def test_deals_per_1000_calls_and_won_amount_per_talk_hour() -> None:
    events = [
        *(call(5 - n / 10, lead=f"L{n}") for n in range(7)),
        ev("call.completed", at(4), call_id="cx", direction="outbound", outcome="connected", duration_s=1800),
        ev("call.completed", at(4), call_id="cy", direction="inbound", outcome="connected", duration_s=900),
        ev("deal.won", at(3), deal_id="D1", amount=900),
        ev("deal.won", at(3), rep="bob", deal_id="D2", amount=100),
    ]
    result = kpis(events)
    ann = {"team": "north", "rep": "ann", "window": "today"}
    assert result[key("salesfloor_deals_per_1000_calls", ann)] == pytest.approx(1000 / 8)
    assert result[key("salesfloor_won_amount_per_talk_hour", ann)] == pytest.approx(900 / 0.75)
    bob = {**ann, "rep": "bob"}
    assert key("salesfloor_deals_per_1000_calls", bob) not in result  # no outbound calls: not exported
    assert key("salesfloor_won_amount_per_talk_hour", bob) not in result
    team = {**ann, "rep": "_all"}
    assert result[key("salesfloor_won_amount_per_talk_hour", team)] == pytest.approx(1000 / 0.75)


def test_speed_to_lead_compares_answered_within_5_minutes_with_later() -> None:
    month = {
        "leads_by_response": {"le_5m": 40.0, "le_1h": 20.0, "le_24h": 10.0, "gt_24h": 10.0, "none": 99.0},
        "lead_conversion_ratio_by_response": {"le_5m": 0.5, "le_1h": 0.2, "le_24h": 0.1, "gt_24h": 0.0, "none": 0.0},
    }
    speed = speed_to_lead(month)
    assert speed["fast_leads"] == 40 and speed["slow_leads"] == 40
    assert speed["slow_conversion_ratio"] == pytest.approx(5 / 40)
    assert speed["times"] == pytest.approx(0.5 / (5 / 40))
    few = {**month, "leads_by_response": {**month["leads_by_response"], "le_5m": 19.0}}
    assert speed_to_lead(few)["times"] is None  # under 20 leads answered within 5 minutes
    none_later = {**month, "lead_conversion_ratio_by_response": {"le_5m": 0.5}}
    assert speed_to_lead(none_later)["times"] is None  # no later conversion to compare with
    assert speed_to_lead({})["times"] is None

"""Edge rules of this round's KPIs (docs/kpi-rules.md), through the real stages: meetings and held
meetings as contacts, deal stages, unsubscribes, targets for any metric and period, and growth."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import count
from typing import Any

import orjson

from tests.kpi_compare import key
from tests.unit.test_engine_vs_reference import run_engine

UTC = timezone.utc
NOW = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
_ids = count()


def ev(kind: str, at: datetime, team: str = "north", rep: str | None = "ann", **fields: Any) -> bytes:
    body = {"event_id": f"e{next(_ids)}", "type": kind, "occurred_at": at.isoformat(), "team_id": team}
    if rep is not None:
        body["rep_id"] = rep
    return orjson.dumps({**body, **fields})


def kpis(events: list[bytes], now: datetime = NOW, tz: str = "UTC") -> dict[Any, float]:
    return run_engine(events, now=now, tz=tz)


def value(
    result: dict[Any, float], name: str, window: str = "today", team: str = "north", rep: str = "ann", **labels: str
) -> float | None:
    return result.get(key(name, {"team": team, "rep": rep, "window": window, **labels}))


def at(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def test_a_no_show_corrected_to_held_moves_the_meeting_and_makes_a_contact() -> None:
    events = [
        ev("lead.created", at(5), lead_id="L1"),
        ev("meeting.scheduled", at(4), meeting_id="M1", lead_id="L1", scheduled_for=at(3).isoformat()),
        ev("meeting.completed", at(3), meeting_id="M1", lead_id="L1", outcome="no_show"),
    ]
    before = kpis(events)
    assert value(before, "salesfloor_meetings_no_show") == 1
    assert value(before, "salesfloor_meetings_held") == 0
    assert value(before, "salesfloor_leads_responded") == 0
    assert before[key("salesfloor_leads_awaiting_response", {"team": "north", "rep": "ann"})] == 1
    after = kpis([*events, ev("meeting.completed", at(2), meeting_id="M1", lead_id="L1", outcome="held")])
    assert value(after, "salesfloor_meetings_no_show") == 0
    assert value(after, "salesfloor_meetings_held") == 1
    assert value(after, "salesfloor_meeting_show_ratio") == 1.0
    assert value(after, "salesfloor_leads_responded") == 1
    assert value(after, "salesfloor_lead_response_seconds", stat="avg") == 3 * 3600  # created 5 h ago, held 2 h ago
    assert value(after, "salesfloor_meeting_to_deal_ratio") == 0.0
    assert after[key("salesfloor_leads_awaiting_response", {"team": "north", "rep": "ann"})] == 0


def test_cancelled_meetings_and_meetings_without_a_lead_are_no_contact() -> None:
    events = [
        ev("lead.created", at(5), lead_id="L1"),
        ev("meeting.completed", at(4), meeting_id="M1", lead_id="L1", outcome="cancelled"),
        ev("meeting.completed", at(3), meeting_id="M2", outcome="held"),  # no lead_id
    ]
    result = kpis(events)
    assert value(result, "salesfloor_leads_responded") == 0
    assert value(result, "salesfloor_meetings_held") == 1
    assert value(result, "salesfloor_meeting_show_ratio") == 1.0
    assert value(result, "salesfloor_meeting_to_deal_ratio") is None  # no lead with a held meeting


def test_meeting_to_deal_counts_the_lead_at_its_first_held_meeting() -> None:
    events = [
        ev("lead.created", at(30), lead_id="L1"),
        ev("meeting.completed", at(26), rep="bob", meeting_id="M1", lead_id="L1", outcome="held"),
        ev("meeting.completed", at(3), meeting_id="M2", lead_id="L1", outcome="held"),
        ev("deal.created", at(1), deal_id="D1", lead_id="L1", amount=1000),
    ]
    result = kpis(events)
    assert value(result, "salesfloor_meeting_to_deal_ratio", rep="bob") is None  # yesterday's cohort
    assert value(result, "salesfloor_meeting_to_deal_ratio", rep="bob", window="month") == 1.0
    assert value(result, "salesfloor_meeting_to_deal_ratio", rep="ann", window="month") is None
    assert value(result, "salesfloor_contacts_before_conversion_avg") == 2.0


def test_a_deal_enters_each_stage_once_and_its_open_amount_moves_with_its_stage() -> None:
    events = [
        ev("deal.created", at(6), deal_id="D1", amount=500),
        ev("deal.stage_changed", at(5), deal_id="D1", stage="qualification"),
        ev("deal.stage_changed", at(4), deal_id="D1", stage="proposal"),
        ev("deal.stage_changed", at(3), deal_id="D1", stage="qualification"),  # back a stage
        ev("deal.created", at(2), deal_id="D2", amount=250),
    ]
    result = kpis(events)
    assert value(result, "salesfloor_deals_entered_stage", stage="qualification") == 1
    assert value(result, "salesfloor_deals_entered_stage", stage="proposal") == 1
    assert value(result, "salesfloor_deals_entered_stage", stage="negotiation") == 0
    by_stage = {
        s: result.get(key("salesfloor_pipeline_open_amount_by_stage", {"team": "north", "stage": s}))
        for s in ("created", "qualification", "proposal", "negotiation")
    }
    assert by_stage == {"created": 250.0, "qualification": 500.0, "proposal": 0.0, "negotiation": 0.0}
    floor = result.get(key("salesfloor_pipeline_open_amount_by_stage", {"team": "_all", "stage": "qualification"}))
    assert floor == 500.0
    won = kpis([*events, ev("deal.won", at(1), deal_id="D1", amount=500)])
    stage = won.get(key("salesfloor_pipeline_open_amount_by_stage", {"team": "north", "stage": "qualification"}))
    assert stage == 0.0


def test_unsubscribes_are_a_cohort_of_the_emails_sent() -> None:
    events = [
        ev("email.sent", at(30), email_id="E0"),
        ev("email.sent", at(3), email_id="E1"),
        ev("email.sent", at(2), email_id="E2"),
        ev("email.unsubscribed", at(1), rep=None, email_id="E0"),
        ev("email.unsubscribed", at(1), rep=None, email_id="E1"),
        ev("email.unsubscribed", at(0.5), rep=None, email_id="E9"),  # never sent: nothing
    ]
    result = kpis(events)
    assert value(result, "salesfloor_email_unsubscribe_ratio") == 0.5
    assert value(result, "salesfloor_email_unsubscribe_ratio", window="month") == 2 / 3


def test_day_and_month_targets_for_any_metric() -> None:
    events = [
        ev("target.set", at(10), period="2026-11-30", metric="calls_outbound", value=4),
        ev("target.set", at(10), rep=None, period="2026-11", metric="meetings_held", value=10),
        ev("target.set", at(9), period="2026-11-29", metric="calls_outbound", value=99),  # another day
        *[
            ev("call.completed", at(h), call_id=f"C{h}", direction="outbound", outcome="no_answer", duration_s=0)
            for h in (1, 2, 3)
        ],
        ev("meeting.completed", at(2), meeting_id="M1", outcome="held"),
    ]
    result = kpis(events)
    assert value(result, "salesfloor_target_value", metric="calls_outbound") == 4.0
    assert value(result, "salesfloor_target_attainment_ratio", metric="calls_outbound") == 0.75
    assert value(result, "salesfloor_target_value", window="month", metric="calls_outbound") is None
    assert value(result, "salesfloor_target_value", window="month", rep="_all", metric="meetings_held") == 10.0
    assert (
        value(result, "salesfloor_target_attainment_ratio", window="month", rep="_all", metric="meetings_held") == 0.1
    )
    assert (
        value(result, "salesfloor_target_value", team="_all", rep="_all", window="month", metric="meetings_held")
        is None
    )  # never for the floor
    assert value(result, "salesfloor_target_amount", window="month", rep="_all") is None  # no won_amount target


def test_a_day_target_on_the_25_hour_day_counts_the_whole_local_day() -> None:
    now = datetime(2026, 10, 25, 22, 30, tzinfo=UTC)  # 23:30 in Warsaw on the day clocks went back
    start = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)  # 00:00 local
    events = [ev("target.set", start, period="2026-10-25", metric="emails_sent", value=25)]
    events += [ev("email.sent", start + timedelta(hours=h), email_id=f"E{h}") for h in range(25)]  # 00:00..23:00
    result = kpis(events, now=now, tz="Europe/Warsaw")
    assert value(result, "salesfloor_emails_sent") == 25
    assert value(result, "salesfloor_target_attainment_ratio", metric="emails_sent") == 1.0


def test_growth_compares_with_the_same_elapsed_local_time_of_the_previous_month() -> None:
    now = datetime(2026, 11, 3, 12, 0, tzinfo=UTC)
    events = [
        ev("deal.won", datetime(2026, 10, 1, 9, tzinfo=UTC), deal_id="D1", amount=100),
        ev("deal.won", datetime(2026, 10, 3, 11, 59, 59, tzinfo=UTC), deal_id="D2", amount=100),
        ev("deal.won", datetime(2026, 10, 3, 12, 0, tzinfo=UTC), deal_id="D3", amount=1000),  # at the cut: out
        ev("deal.won", datetime(2026, 11, 2, 9, tzinfo=UTC), deal_id="D4", amount=300),
    ]
    result = kpis(events, now=now)
    assert value(result, "salesfloor_won_amount_growth_ratio", window="month") == 0.5  # 300 / 200 - 1
    assert value(result, "salesfloor_won_amount_growth_ratio", window="month", team="_all", rep="_all") == 0.5
    assert value(result, "salesfloor_won_amount_growth_ratio", window="today") is None


def test_growth_past_the_end_of_a_shorter_previous_month_takes_all_of_it() -> None:
    now = datetime(2027, 3, 30, 12, 0, tzinfo=UTC)
    events = [
        ev("deal.won", datetime(2027, 2, 28, 23, 0, tzinfo=UTC), deal_id="D1", amount=100),
        ev("deal.won", datetime(2027, 3, 30, 9, 0, tzinfo=UTC), deal_id="D2", amount=300),
    ]
    assert value(kpis(events, now=now), "salesfloor_won_amount_growth_ratio", window="month") == 2.0

"""Business time in the KPIs (SPEC §4 "Business time"), through the real stages: a team in New York with
office hours and a worker in UTC, a lead waiting over a weekend, a holiday, a calendar that arrives late,
assignment response and the oldest waiting lead on the SLA clock."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import orjson
import pytest

from agents.alerts.deadlines import alert_for
from agents.entities.state import compact, team_clock
from streams.records import decode_event
from tests.kpi_compare import key
from tests.unit.test_kpis_part2 import NOW, ev, kpis, value

NY = timezone(timedelta(hours=-5))  # New York's offset in late November (EST)
WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
FRIDAY_1658 = datetime(2026, 11, 27, 16, 58, tzinfo=NY)
MONDAY_0903 = datetime(2026, 11, 30, 9, 3, tzinfo=NY)  # NOW (Monday 18:00 UTC) is 13:00 in New York


def calendar(at: datetime, holidays: tuple[str, ...] = (), team: str = "north", event_id: str = "cal-1") -> bytes:
    body = {"event_id": event_id, "type": "calendar.set", "occurred_at": at.isoformat(), "team_id": team,
            "timezone": "America/New_York", "hours": WEEKDAYS, "holidays": list(holidays)}  # fmt: skip
    return orjson.dumps(body)


def weekend_lead() -> list[bytes]:
    return [
        ev("lead.created", FRIDAY_1658, lead_id="L1"),
        ev("email.sent", MONDAY_0903, email_id="E1", lead_id="L1"),
    ]


@pytest.mark.parametrize("calendar_last", [False, True])
def test_a_lead_answered_after_the_weekend_waited_five_business_minutes(calendar_last: bool) -> None:
    cal = calendar(datetime(2026, 1, 1, tzinfo=NY))  # older than the retention: still in force
    result = kpis([*weekend_lead(), cal] if calendar_last else [cal, *weekend_lead()])
    assert value(result, "salesfloor_lead_response_business_seconds", stat="avg") == 300  # 2 min Fri + 3 min Mon
    assert value(result, "salesfloor_lead_response_seconds", stat="avg") == (64 * 3600 + 5 * 60)
    assert value(result, "salesfloor_lead_response_within_sla_ratio") == 1.0
    assert value(result, "salesfloor_lead_response_within_sla_ratio", rep="_all") == 1.0
    wall = kpis(weekend_lead())  # no calendar: the wall clock
    assert value(wall, "salesfloor_lead_response_business_seconds", stat="avg") == 64 * 3600 + 5 * 60
    assert value(wall, "salesfloor_lead_response_within_sla_ratio") == 0.0


def test_a_holiday_monday_is_closed_and_a_calendar_stamped_later_does_not_reach_back() -> None:
    holiday = kpis([calendar(datetime(2026, 1, 1, tzinfo=NY), holidays=("2026-11-30",)), *weekend_lead()])
    assert value(holiday, "salesfloor_lead_response_business_seconds", stat="avg") == 120
    later = kpis([calendar(MONDAY_0903 - timedelta(minutes=1)), *weekend_lead()])  # in force from 09:02 Monday
    assert (
        value(later, "salesfloor_lead_response_business_seconds", stat="avg")
        == (FRIDAY_1658.replace(day=30, hour=9, minute=2) - FRIDAY_1658).total_seconds() + 60
    )


def test_assignment_response_goes_to_the_assigned_rep() -> None:
    created = NOW - timedelta(hours=3)
    events = [
        ev("lead.created", created, lead_id="L1"),
        ev("lead.assigned", created + timedelta(minutes=10), rep="bob", lead_id="L1"),
        ev("lead.assigned", created + timedelta(minutes=20), rep="carl", lead_id="L1"),
        ev(
            "call.completed",
            created + timedelta(minutes=50),
            rep="dora",
            call_id="C1",
            lead_id="L1",
            direction="outbound",
            outcome="no_answer",
            duration_s=0,
        ),  # fmt: skip
        ev("lead.assigned", created + timedelta(minutes=55), rep="erin", lead_id="L1"),  # after the contact
        ev("lead.created", created, lead_id="L2"),
        ev("email.sent", created + timedelta(minutes=1), email_id="E2", lead_id="L2"),  # never assigned
    ]
    result = kpis(events)
    assert value(result, "salesfloor_lead_assignment_response_seconds", rep="carl", stat="avg") == 30 * 60
    assert value(result, "salesfloor_lead_assignment_response_seconds", rep="_all", stat="max") == pytest.approx(
        30 * 60, rel=0.01
    )
    assert value(result, "salesfloor_lead_assignment_response_seconds", rep="bob", stat="avg") is None
    assert value(result, "salesfloor_lead_assignment_response_seconds", rep="dora", stat="avg") is None


def test_the_oldest_waiting_lead_ages_on_its_teams_clock() -> None:
    created = datetime(2026, 11, 30, 8, 0, tzinfo=NY)  # before opening; NOW is 13:00 New York
    events = [
        calendar(datetime(2026, 1, 1, tzinfo=NY)),
        ev("lead.created", created, lead_id="L1"),
        ev("lead.created", NOW - timedelta(minutes=30), team="south", lead_id="L2"),  # no calendar
    ]
    result = kpis(events)
    business = "salesfloor_lead_oldest_awaiting_business_seconds"
    assert result[key(business, {"team": "north"})] == 4 * 3600  # 09:00 to 13:00
    assert result[key("salesfloor_lead_oldest_awaiting_seconds", {"team": "north"})] == 5 * 3600
    assert result[key(business, {"team": "south"})] == 30 * 60
    assert result[key(business, {"team": "_all"})] == 4 * 3600  # the floor's oldest lead is north's


def test_a_weekend_lead_breaches_on_monday_morning_and_the_alert_says_which_clock() -> None:
    events = [compact(decode_event(raw)) for raw in weekend_lead()[:1]]
    clock = team_clock([compact(decode_event(calendar(datetime(2026, 1, 1, tzinfo=NY))))])
    at = clock.deadline(events[0]["a"], 300 * 1_000_000)
    assert at is not None and datetime.fromtimestamp(at / 1e6, NY) == datetime(2026, 11, 30, 9, 3, tzinfo=NY)
    alert = alert_for("LL1", events, 300, at, clock)
    assert alert["clock"] == "business" and alert["waited_s"] == 300
    assert alert_for("LL1", events, 300, at)["clock"] == "wall"

"""Unit tests of the reference computation's issue-13 rules: held meetings as contacts, meeting counts
and meeting-to-deal, deal stages and the pipeline by stage, unsubscribes, future events and unknown
stages. Expected values are worked out by hand from SPEC.md §4 and docs/kpi-rules.md.

As in test_reference: now = 2026-11-22 12:00:30 UTC (a Sunday), time zone UTC, SLA 300 s.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_reference import ALL, YESTERDAY, at, call, deal, email, ev, lead, run, series_of, val


def meeting(
    kind: str, meeting_id: str, when: str, lead_id: str | None = None, outcome: str | None = None, **kw: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {"meeting_id": meeting_id}
    if kind == "scheduled":
        fields["scheduled_for"] = "2026-11-30T10:00:00Z"
    if outcome is not None:
        fields["outcome"] = outcome
    if lead_id is not None:
        fields["lead_id"] = lead_id
    return ev(f"meeting.{kind}", when, **fields, **kw)


def stage(deal_id: str, when: str, name: str, **kw: Any) -> dict[str, Any]:
    return ev("deal.stage_changed", when, deal_id=deal_id, stage=name, **kw)


def awaiting(result: dict[Any, float], team: str = ALL, rep: str = ALL) -> float | None:
    return val(result, "salesfloor_leads_awaiting_response", team, rep, window=None)


# ---------------------------------------------------------------------------- held meetings: leads


@pytest.mark.parametrize("order", ["in_order", "correction_first"])
def test_no_show_corrected_to_held_moves_meeting_and_contact_to_the_newer_time(order: str) -> None:
    events = [
        lead("L", at("10:00", day=20)),
        meeting("completed", "M1", at("10:00", day=21), "L", "no_show", rep="r1"),
        meeting("completed", "M1", at("09:00"), "L", "held", rep="r2"),
    ]
    if order == "correction_first":
        events = [events[0], events[2], events[1]]
    r = run(events)
    for window in ("today", "month"):
        assert val(r, "salesfloor_meetings_held", window=window) == 1
        assert val(r, "salesfloor_meetings_no_show", window=window) == 0
        assert val(r, "salesfloor_meeting_show_ratio", window=window) == 1.0
    assert val(r, "salesfloor_meetings_held", "t1", "r2") == 1
    assert val(r, "salesfloor_meetings_no_show", "t1", "r1", window="month") == 0
    # the held contact is at 22 09:00 (by r2): the lead's first contact, 47 h after its creation
    assert val(r, "salesfloor_leads_responded", "t1", "r2") == 1
    assert val(r, "salesfloor_lead_response_seconds", "t1", "r2", stat="max") == 47 * 3600
    assert awaiting(r) == 0
    yesterday = run(events, day=YESTERDAY)
    assert val(yesterday, "salesfloor_meetings_no_show") == 0
    assert val(yesterday, "salesfloor_leads_responded") == 0


def test_held_corrected_to_no_show_is_no_contact_any_more() -> None:
    r = run(
        [
            lead("L", at("10:00")),
            meeting("completed", "M1", at("10:10"), "L", "held"),
            meeting("completed", "M1", at("11:00"), "L", "no_show"),
        ]
    )
    assert val(r, "salesfloor_meetings_held") == 0
    assert val(r, "salesfloor_meetings_no_show") == 1
    assert val(r, "salesfloor_meeting_show_ratio") == 0.0
    assert val(r, "salesfloor_leads_responded") == 0
    assert awaiting(r, "t1", "r1") == 1


def test_held_meeting_before_any_call_is_the_first_contact() -> None:
    r = run(
        [
            lead("L", at("10:00")),
            call(at("10:05"), "L", rep="r1"),
            meeting("completed", "M1", at("10:02"), "L", "held", rep="r2", duration_s=900),
            deal("created", "D1", at("11:00"), 100, "L", rep="r1"),
        ]
    )
    assert val(r, "salesfloor_leads_responded", "t1", "r2") == 1
    assert val(r, "salesfloor_leads_responded", "t1", "r1") == 0
    assert val(r, "salesfloor_lead_response_seconds", "t1", "r2", stat="avg") == 120.0
    assert val(r, "salesfloor_lead_response_within_sla_ratio", "t1", "r2") == 1.0
    assert val(r, "salesfloor_leads_followed_up", "t1", "r2") == 1  # the meeting and the call
    assert val(r, "salesfloor_follow_up_ratio") == 1.0
    assert val(r, "salesfloor_contacts_before_conversion_avg", "t1", "r1") == 2.0
    assert val(r, "salesfloor_meeting_to_deal_ratio", "t1", "r2") == 1.0
    assert awaiting(r) == 0


def test_held_meeting_counts_as_contact_before_conversion_only_when_earlier() -> None:
    r = run(
        [
            lead("L", at("10:00")),
            email("E1", at("10:01"), "L"),
            deal("created", "D1", at("11:00"), 100, "L"),
            meeting("completed", "M1", at("11:00"), "L", "held"),  # not strictly earlier
            meeting("completed", "M2", at("10:30"), "L", "held"),
        ]
    )
    assert val(r, "salesfloor_contacts_before_conversion_avg") == 2.0


def test_cancelled_meeting_is_no_contact() -> None:
    r = run(
        [
            lead("L", at("10:00")),
            meeting("scheduled", "M1", at("10:00:30"), "L"),
            meeting("completed", "M1", at("10:01"), "L", "cancelled"),
        ]
    )
    assert val(r, "salesfloor_meetings_scheduled") == 1
    assert val(r, "salesfloor_meetings_held") == 0
    assert val(r, "salesfloor_meetings_no_show") == 0
    assert val(r, "salesfloor_meeting_show_ratio") is None
    assert val(r, "salesfloor_leads_responded") == 0
    assert val(r, "salesfloor_meeting_to_deal_ratio") is None
    assert awaiting(r, "t1", "r1") == 1


def test_meeting_completed_without_lead_id_changes_no_lead_kpi() -> None:
    r = run(
        [
            lead("L", at("10:00")),
            lead("K", at("10:00")),
            # linked by the lead_id of its meeting.completed events, not of its meeting.scheduled
            meeting("scheduled", "M1", at("09:00"), "L"),
            meeting("completed", "M1", at("10:30"), outcome="held"),
            # a later outcome without lead_id leaves K's held contact in place
            meeting("completed", "M2", at("10:10"), "K", "held"),
            meeting("completed", "M2", at("10:40"), outcome="no_show"),
        ]
    )
    assert val(r, "salesfloor_meetings_held") == 1  # M1
    assert val(r, "salesfloor_meetings_no_show") == 1  # M2: its latest outcome
    assert val(r, "salesfloor_leads_responded") == 1  # K only
    assert val(r, "salesfloor_lead_response_seconds", stat="max") == 600.0
    assert val(r, "salesfloor_meeting_to_deal_ratio") == 0.0  # K, not converted
    assert awaiting(r) == 1  # L


def test_meeting_counts_reschedules_duplicates_and_team_ratio_from_events() -> None:
    r = run(
        [
            meeting("scheduled", "M1", at("09:00"), eid="s1"),
            meeting("scheduled", "M1", at("09:30")),  # rescheduled: counts again
            meeting("scheduled", "M1", at("09:30"), eid="s1"),  # a duplicate: ignored
            meeting("scheduled", "M2", at("09:00", day=21), rep="r2"),
            meeting("completed", "M1", at("10:00"), outcome="held"),
            meeting("completed", "M2", at("10:00"), outcome="no_show", rep="r2"),
            meeting("completed", "M3", at("10:00"), outcome="no_show", rep="r2"),
            meeting("completed", "M4", at("10:00"), outcome="no_show", rep="r2"),
            meeting("completed", "M5", at("10:00"), outcome="held", team="t2", rep="r5"),
        ]
    )
    assert val(r, "salesfloor_meetings_scheduled", "t1", "r1") == 2
    assert val(r, "salesfloor_meetings_scheduled", "t1") == 2
    assert val(r, "salesfloor_meetings_scheduled", "t1", window="month") == 3
    assert val(r, "salesfloor_meeting_show_ratio", "t1", "r1") == 1.0
    assert val(r, "salesfloor_meeting_show_ratio", "t1", "r2") == 0.0
    assert val(r, "salesfloor_meeting_show_ratio", "t1") == 0.25  # 1 ÷ 4, not the reps' mean
    assert val(r, "salesfloor_meeting_show_ratio") == 0.4
    assert val(r, "salesfloor_meetings_held", "t2", "r5", window="last_60m") == 0


def test_meeting_to_deal_cohort_of_the_first_held_meeting() -> None:
    events = [
        lead("A", at("09:00", day=21)),
        meeting("completed", "MA1", at("10:00", day=21), "A", "held", rep="r2"),
        meeting("completed", "MA2", at("09:00"), "A", "held", rep="r1"),  # not the first
        deal("created", "DA", at("11:00"), 10, "A"),  # converted today: raises yesterday's cohort
        lead("B", at("09:00")),
        meeting("completed", "MB", at("10:00"), "B", "held", team="t2", rep="r9"),  # the meeting's team
        meeting("completed", "MC", at("10:00"), "C", "held"),  # C's creation never seen
    ]
    r = run(events)
    assert val(r, "salesfloor_meeting_to_deal_ratio", "t1", "r2", window="month") == 1.0
    assert val(r, "salesfloor_meeting_to_deal_ratio", "t1", "r1") is None
    assert val(r, "salesfloor_meeting_to_deal_ratio", "t2", "r9") == 0.0
    assert val(r, "salesfloor_meeting_to_deal_ratio") == 0.0  # B only today
    assert val(r, "salesfloor_meeting_to_deal_ratio", window="month") == 0.5
    assert val(run(events, day=YESTERDAY), "salesfloor_meeting_to_deal_ratio") == 1.0


# ------------------------------------------------------------------------------------- deal stages


def test_deals_entered_stage_counts_a_deal_once_per_stage() -> None:
    r = run(
        [
            stage("D1", at("09:00"), "qualification"),
            stage("D1", at("10:00"), "proposal"),
            stage("D1", at("11:00"), "qualification"),  # re-entered: not counted again
            stage("D1", at("10:00", day=21), "negotiation"),
            stage("D2", at("09:00", day=21), "qualification", rep="r2"),
            stage("D2", at("09:30"), "qualification"),  # re-entered today by r1: counted on the 21st
            stage("D3", at("09:00"), "proposal", rep="r2", eid="x-b"),
            stage("D3", at("09:00"), "proposal", rep="r3", eid="x-a"),  # same time: smallest event_id
        ]
    )

    def entered(name: str, team: str = ALL, rep: str = ALL, window: str = "today") -> float | None:
        return val(r, "salesfloor_deals_entered_stage", team, rep, window, stage=name)

    assert entered("qualification") == 1
    assert entered("qualification", window="month") == 2
    assert entered("qualification", "t1", "r2", "month") == 1
    assert entered("qualification", "t1", "r1", "month") == 1
    assert entered("proposal") == 2
    assert entered("proposal", "t1", "r3") == 1
    assert entered("proposal", "t1", "r2") == 0
    assert entered("negotiation") == 0
    assert entered("negotiation", window="month") == 1


def test_current_stage_and_open_pipeline_by_stage() -> None:
    r = run(
        [
            deal("created", "D1", at("08:00"), 100),
            stage("D1", at("09:00"), "qualification"),
            stage("D1", at("10:00"), "proposal"),
            stage("D1", at("11:00"), "qualification"),  # current: the latest
            deal("created", "D2", at("08:00"), 50, rep="r2"),
            stage("D2", at("11:30"), "qualification", rep="r2"),
            stage("D2", at("09:00"), "negotiation", rep="r2"),  # arrives later, is older
            deal("created", "D3", at("08:00"), 30),  # no stage change: created
            deal("created", "D4", at("08:00"), 70),
            stage("D4", at("09:00"), "proposal"),
            deal("won", "D4", at("10:00"), 70),  # closed: not in the pipeline
            deal("created", "D5", at("08:00", day=3), 20, team="t2", rep="r5"),
            stage("D5", at("09:00"), "negotiation", team="t2", rep="r5"),
            deal("created", "D6", at("08:00"), 5, team="t2", rep="r5"),
            stage("D6", at("09:00"), "proposal", team="t2", rep="r5", eid="z-a"),
            stage("D6", at("09:00"), "negotiation", team="t2", rep="r5", eid="z-b"),  # same time: greatest
            stage("D7", at("09:00"), "proposal", team="t3"),  # never created: in no pipeline
        ]
    )

    def pipeline(team: str, name: str) -> float | None:
        return r.get(("salesfloor_pipeline_open_amount_by_stage", (("stage", name), ("team", team))))

    expected = {
        "t1": {"created": 30, "qualification": 150, "proposal": 0, "negotiation": 0},
        "t2": {"created": 0, "qualification": 0, "proposal": 0, "negotiation": 25},
        "t3": {"created": 0, "qualification": 0, "proposal": 0, "negotiation": 0},
        ALL: {"created": 30, "qualification": 150, "proposal": 0, "negotiation": 25},
    }
    assert {team: {name: pipeline(team, name) for name in expected[ALL]} for team in expected} == expected
    assert len(series_of(r, "salesfloor_pipeline_open_amount_by_stage")) == 16  # no rep series
    assert val(r, "salesfloor_pipeline_open_amount", window=None) == 205
    past = run([deal("created", "D1", at("08:00", day=21), 100)], day=YESTERDAY)
    assert series_of(past, "salesfloor_pipeline_open_amount_by_stage") == set()  # live only


def test_unknown_stage_is_dropped_and_does_not_claim_its_event_id() -> None:
    r = run(
        [
            deal("created", "D1", at("08:00"), 100),
            stage("D1", at("09:00"), "qualification"),
            stage("D1", at("10:00"), "closing", eid="dup"),  # not a configured stage: rejected
            stage("D2", at("10:00"), "proposal", eid="dup"),  # so its event_id is still free
        ]
    )
    assert val(r, "salesfloor_deals_entered_stage", stage="closing") is None
    assert val(r, "salesfloor_deals_entered_stage", stage="proposal") == 1
    assert r[("salesfloor_pipeline_open_amount_by_stage", (("stage", "qualification"), ("team", ALL)))] == 100
    assert ("salesfloor_pipeline_open_amount_by_stage", (("stage", "closing"), ("team", ALL))) not in r


def test_configured_stages_replace_the_default_ones() -> None:
    r = run(
        [
            deal("created", "D1", at("08:00"), 100),
            stage("D1", at("09:00"), "demo"),
            stage("D1", at("10:00"), "qualification"),  # not configured here: rejected
        ],
        stages=("demo", "contract"),
    )
    stages = {dict(labels)["stage"] for labels in series_of(r, "salesfloor_deals_entered_stage")}
    assert stages == {"demo", "contract"}
    assert val(r, "salesfloor_deals_entered_stage", stage="demo") == 1
    by_stage = {dict(lb)["stage"]: v for (n, lb), v in r.items() if n == "salesfloor_pipeline_open_amount_by_stage"}
    assert by_stage == {"created": 0, "demo": 100, "contract": 0}


# ------------------------------------------------------------------------------------ unsubscribes


def test_unsubscribe_ratio_is_a_cohort_of_the_send() -> None:
    events = [
        email("E1", at("09:00")),
        email("E2", at("09:00")),
        email("E1", at("10:00"), kind="unsubscribed", rep=None),
        email("E1", at("11:00"), kind="unsubscribed", rep=None),  # twice: one email
        email("E3", at("09:00", day=21), rep="r2"),
        email("E3", at("08:00"), kind="unsubscribed", rep=None),  # today: raises yesterday's ratio
        email("E9", at("08:00"), kind="unsubscribed"),  # its email.sent never seen
    ]
    r = run(events)
    assert val(r, "salesfloor_email_unsubscribe_ratio") == 0.5
    assert val(r, "salesfloor_email_unsubscribe_ratio", "t1", "r1") == 0.5
    assert val(r, "salesfloor_email_unsubscribe_ratio", "t1", "r2") is None  # nothing sent today
    assert val(r, "salesfloor_email_unsubscribe_ratio", window="month") == 2 / 3
    assert val(run(events, day=YESTERDAY), "salesfloor_email_unsubscribe_ratio", "t1", "r2") == 1.0
    assert val(run([email("E1", at("10:00"), kind="unsubscribed")]), "salesfloor_email_unsubscribe_ratio") is None


# ---------------------------------------------------------------------------------- future events


def test_future_events_are_dropped_past_max_future_seconds() -> None:
    events = [
        lead("EDGE", "2026-11-22T12:05:30Z"),  # exactly 300 s ahead: accepted
        lead("AHEAD", "2026-11-22T12:05:30.000001Z", eid="f1"),  # rejected ...
        lead("SAME_ID", at("10:00"), eid="f1"),  # ... without claiming its event_id
        lead("W", at("11:00")),
        meeting("completed", "M1", "2026-11-22T13:00:00Z", "W", "held"),  # a future meeting ends no wait
    ]
    r = run(events)
    assert val(r, "salesfloor_leads_created") == 3
    assert val(r, "salesfloor_meetings_held") == 0
    assert awaiting(r) == 3
    assert val(run(events, max_future_s=0), "salesfloor_leads_created") == 2
    wide = run(events, max_future_s=3600)  # AHEAD accepted first: SAME_ID is then a duplicate
    assert val(wide, "salesfloor_leads_created") == 3
    assert val(wide, "salesfloor_meetings_held") == 1
    assert awaiting(wide) == 2

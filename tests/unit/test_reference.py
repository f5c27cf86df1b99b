"""Unit tests of the reference KPI computation on small hand-made event logs.

Every expected value below is worked out by hand from SPEC.md §4 and docs/kpi-rules.md.
Unless a test says otherwise: now = 2026-11-22 12:00:30 UTC (a Sunday), time zone UTC, SLA 300 s.
"""

from __future__ import annotations

import ast
import itertools
import math
import random
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

import streams.audit
from streams.audit.reference import compute, format_report, nearest_rank, parse_time, to_us

NOW = datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC)
ALL = "_all"
YESTERDAY = date(2026, 11, 21)
COUNT_METRICS = [
    "salesfloor_leads_created",
    "salesfloor_leads_responded",
    "salesfloor_leads_followed_up",
    "salesfloor_leads_converted",
    "salesfloor_opportunities_opened",
    "salesfloor_deals_won",
    "salesfloor_deals_lost",
    "salesfloor_won_amount",
    "salesfloor_lost_amount",
    "salesfloor_calls_outbound",
    "salesfloor_calls_connected",
    "salesfloor_talk_time_seconds",
    "salesfloor_emails_sent",
    "salesfloor_email_replies",
    "salesfloor_meetings_scheduled",
    "salesfloor_meetings_held",
    "salesfloor_meetings_no_show",
]
STAGES = ("qualification", "proposal", "negotiation")
SOURCES = ("inbound_web", "inbound_phone", "referral", "outbound", "event", "partner", "other", "unknown")
_ids = itertools.count(1)

# ------------------------------------------------------------------------------------------ helpers


def at(clock: str, day: int = 22, month: int = 11) -> str:
    """'10:00' or '10:00:05' on 2026-<month>-<day>, UTC."""
    if len(clock) == 5:
        clock += ":00"
    return f"2026-{month:02d}-{day:02d}T{clock}Z"


def ev(
    type_: str, when: str, *, team: str = "t1", rep: str | None = "r1", eid: str | None = None, **fields: Any
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": eid or f"e{next(_ids):08d}",
        "type": type_,
        "occurred_at": when,
        "team_id": team,
    }
    if rep is not None:
        event["rep_id"] = rep
    event.update(fields)
    return event


def lead(lead_id: str, when: str, **kw: Any) -> dict[str, Any]:
    return ev("lead.created", when, lead_id=lead_id, **kw)


def call(
    when: str,
    lead_id: str | None = None,
    direction: str = "outbound",
    outcome: str = "connected",
    duration_s: float = 60,
    **kw: Any,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "call_id": f"c{next(_ids)}",
        "direction": direction,
        "outcome": outcome,
        "duration_s": duration_s,
    }
    if lead_id is not None:
        fields["lead_id"] = lead_id
    return ev("call.completed", when, **fields, **kw)


def email(email_id: str, when: str, lead_id: str | None = None, kind: str = "sent", **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"email_id": email_id}
    if lead_id is not None:
        fields["lead_id"] = lead_id
    return ev(f"email.{kind}", when, **fields, **kw)


def deal(
    kind: str, deal_id: str, when: str, amount: float | None = None, lead_id: str | None = None, **kw: Any
) -> dict[str, Any]:
    fields: dict[str, Any] = {"deal_id": deal_id}
    if amount is not None:
        fields["amount"] = amount
    if lead_id is not None:
        fields["lead_id"] = lead_id
    return ev(f"deal.{kind}", when, **fields, **kw)


def run(events: list[dict[str, Any]], **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    kw.setdefault("now", NOW)
    return compute(events, **kw)


def val(
    result: dict[Any, float],
    name: str,
    team: str = ALL,
    rep: str | None = ALL,
    window: str | None = "today",
    **extra: str,
) -> float | None:
    labels = {"team": team, **extra}
    if rep is not None:
        labels["rep"] = rep
    if window is not None:
        labels["window"] = window
    return result.get((name, tuple(sorted(labels.items()))))


def series_of(result: dict[Any, float], name: str) -> set[tuple[tuple[str, str], ...]]:
    return {labels for metric, labels in result if metric == name}


def response_events(seconds: list[int], rep: str = "r1") -> list[dict[str, Any]]:
    """One lead per value, created 10:00:00, first contacted by `rep` after that many seconds."""
    events = []
    for i, s in enumerate(seconds):
        events.append(lead(f"L{rep}{i}", at("10:00")))
        events.append(call(f"2026-11-22T10:{s // 60:02d}:{s % 60:02d}Z", f"L{rep}{i}", rep=rep))
    return events


# ------------------------------------------------------------------------------------ time parsing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-22T09:15:03.120Z", datetime(2026, 11, 22, 9, 15, 3, 120000, tzinfo=UTC)),
        ("2026-11-22T10:15:03.1+01:00", datetime(2026, 11, 22, 9, 15, 3, 100000, tzinfo=UTC)),
        ("2026-11-22T09:15:03.123456789Z", datetime(2026, 11, 22, 9, 15, 3, 123456, tzinfo=UTC)),
        ("2026-11-22t09:15:03z", datetime(2026, 11, 22, 9, 15, 3, tzinfo=UTC)),
        ("2026-11-22T04:15:03-05:00", datetime(2026, 11, 22, 9, 15, 3, tzinfo=UTC)),
    ],
)
def test_parse_time_to_integer_microseconds(text: str, expected: datetime) -> None:
    assert parse_time(text) == to_us(expected)


@pytest.mark.parametrize(
    ("values", "p50", "p90"),
    [
        ([7], 7, 7),
        ([1, 2], 1, 2),
        (list(range(1, 11)), 5, 9),
        (list(range(1, 101)), 50, 90),
        ([3, 1, 2], 2, 3),
    ],
)
def test_nearest_rank(values: list[float], p50: float, p90: float) -> None:
    assert nearest_rank(sorted(values), 50) == p50
    assert nearest_rank(sorted(values), 90) == p90


# ----------------------------------------------------------------------------------------- leads


def test_leads_created_per_rep_team_floor_and_unassigned_owner() -> None:
    r = run(
        [
            lead("A", at("09:00")),
            lead("B", at("09:10"), rep="r2"),
            lead("C", at("09:20"), rep=None),
            lead("D", at("09:30"), team="t2"),
        ]
    )
    assert val(r, "salesfloor_leads_created", "t1", "r1") == 1
    assert val(r, "salesfloor_leads_created", "t1", "r2") == 1
    assert val(r, "salesfloor_leads_created", "t1", "_unassigned") == 1
    assert val(r, "salesfloor_leads_created", "t1") == 3
    assert val(r, "salesfloor_leads_created", "t2") == 1
    assert val(r, "salesfloor_leads_created") == 4


def test_response_stats_avg_nearest_rank_max_and_sla() -> None:
    r = run(response_events([10, 20, 30, 400, 1000]))
    for team, rep in [("t1", "r1"), ("t1", ALL), (ALL, ALL)]:
        stats = {s: val(r, "salesfloor_lead_response_seconds", team, rep, stat=s) for s in ("avg", "p50", "p90", "max")}
        assert stats == {"avg": 292.0, "p50": 30.0, "p90": 1000.0, "max": 1000.0}
        assert val(r, "salesfloor_leads_responded", team, rep) == 5
        assert val(r, "salesfloor_lead_response_within_sla_ratio", team, rep) == 0.6


def test_response_at_exactly_the_sla_is_within_and_sla_is_configurable() -> None:
    events = response_events([300, 301])
    assert val(run(events), "salesfloor_lead_response_within_sla_ratio") == 0.5
    assert val(run(events, sla_s=301.0), "salesfloor_lead_response_within_sla_ratio") == 1.0
    assert val(run(events, sla_s=10), "salesfloor_lead_response_within_sla_ratio") == 0.0


def test_response_time_keeps_microseconds_and_truncates_nanoseconds() -> None:
    r = run([lead("A", "2026-11-22T10:00:00.5Z"), call("2026-11-22T10:00:01.250000999Z", "A")])
    assert val(r, "salesfloor_lead_response_seconds", stat="max") == 0.75


def test_ten_responses_p90_is_the_ninth() -> None:
    r = run(response_events([1, 2, 3, 4, 5, 6, 7, 8, 9, 100]))
    assert val(r, "salesfloor_lead_response_seconds", stat="p50") == 5.0
    assert val(r, "salesfloor_lead_response_seconds", stat="p90") == 9.0
    assert val(r, "salesfloor_lead_response_seconds", stat="max") == 100.0
    assert val(r, "salesfloor_lead_response_seconds", stat="avg") == 14.5


def test_followed_up_and_follow_up_ratio() -> None:
    r = run(
        [
            lead("A", at("09:00")),
            call(at("09:01"), "A"),
            email("m1", at("09:30"), "A"),
            lead("B", at("09:00")),
            call(at("09:02"), "B"),
        ]
    )
    assert val(r, "salesfloor_leads_followed_up", "t1", "r1") == 1
    assert val(r, "salesfloor_follow_up_ratio", "t1", "r1") == 0.5


def test_follow_up_tomorrow_raises_yesterdays_follow_up_ratio() -> None:
    events = [lead("A", at("16:00", day=21)), call(at("16:05", day=21), "A")]
    assert val(run(events, day=YESTERDAY), "salesfloor_follow_up_ratio") == 0.0
    r = run([*events, call(at("09:00"), "A")], day=YESTERDAY)
    assert val(r, "salesfloor_leads_followed_up") == 1
    assert val(r, "salesfloor_follow_up_ratio") == 1.0
    today = run([*events, call(at("09:00"), "A")])
    assert val(today, "salesfloor_leads_followed_up") == 0
    assert val(today, "salesfloor_follow_up_ratio") is None  # nobody responded today


@pytest.mark.parametrize("order", ["arrival", "reversed", "shuffled"])
def test_out_of_order_contact_changes_first_contact_rep_and_response(order: str) -> None:
    events = [
        lead("A", at("10:00")),
        call(at("10:30"), "A", rep="r1"),
        email("m1", at("10:05"), "A", rep="r2"),
    ]
    if order == "reversed":
        events.reverse()
    elif order == "shuffled":
        random.Random(7).shuffle(events)
    r = run(events)
    assert val(r, "salesfloor_leads_responded", "t1", "r2") == 1
    assert val(r, "salesfloor_leads_responded", "t1", "r1") == 0  # r1 has data (owner): series present
    assert val(r, "salesfloor_lead_response_seconds", "t1", "r2", stat="max") == 300.0
    assert val(r, "salesfloor_lead_response_seconds", "t1", "r1", stat="max") is None
    assert val(r, "salesfloor_lead_response_within_sla_ratio", "t1", "r2") == 1.0
    assert val(r, "salesfloor_leads_followed_up", "t1", "r2") == 1


def test_contact_before_lead_created_counts_with_response_zero_at_the_contact_time() -> None:
    r = run([call(at("23:50", day=21), "A"), lead("A", at("00:10"))])
    assert val(r, "salesfloor_leads_created") == 1
    assert val(r, "salesfloor_leads_responded") == 0  # the first contact was yesterday
    past = run([call(at("23:50", day=21), "A"), lead("A", at("00:10"))], day=YESTERDAY)
    assert val(past, "salesfloor_leads_responded") == 1
    assert val(past, "salesfloor_lead_response_seconds", stat="max") == 0.0
    assert val(past, "salesfloor_leads_created") == 0


def test_responded_goes_to_the_leads_team_and_the_contacting_rep() -> None:
    r = run([lead("A", at("10:00"), team="t1", rep="r1"), call(at("10:01"), "A", team="t2", rep="r9")])
    assert val(r, "salesfloor_leads_responded", "t1", "r9") == 1
    assert val(r, "salesfloor_leads_responded", "t1") == 1
    assert val(r, "salesfloor_leads_responded", "t2") == 0  # t2 has data (the call), but no lead
    assert val(r, "salesfloor_calls_outbound", "t2", "r9") == 1  # the call itself is the call's team's


def test_first_contact_tie_goes_to_smallest_event_id() -> None:
    r = run(
        [
            lead("A", at("10:00")),
            call(at("10:01"), "A", rep="r1", eid="x-b"),
            call(at("10:01"), "A", rep="r2", eid="x-a"),
        ]
    )
    assert val(r, "salesfloor_leads_responded", "t1", "r2") == 1
    assert val(r, "salesfloor_leads_responded", "t1", "r1") == 0


@pytest.mark.parametrize(
    ("direction", "outcome", "contact"),
    [
        ("outbound", "connected", True),
        ("outbound", "no_answer", True),
        ("outbound", "failed", True),
        ("inbound", "connected", True),
        ("inbound", "no_answer", False),
        ("inbound", "voicemail", False),
    ],
)
def test_which_calls_are_contacts(direction: str, outcome: str, contact: bool) -> None:
    r = run([lead("A", at("10:00")), call(at("10:01"), "A", direction=direction, outcome=outcome)])
    assert val(r, "salesfloor_leads_responded") == (1 if contact else 0)
    assert val(r, "salesfloor_leads_awaiting_response", "t1", "r1", window=None) == (0 if contact else 1)


def test_call_or_email_without_lead_id_is_not_a_contact() -> None:
    r = run([lead("A", at("10:00")), call(at("10:01")), email("m1", at("10:02"))])
    assert val(r, "salesfloor_leads_responded") == 0
    assert val(r, "salesfloor_leads_awaiting_response", window=None) == 1


def test_contacts_before_conversion_avg() -> None:
    r = run(
        [
            lead("A", at("09:00")),
            call(at("09:10"), "A"),
            email("m1", at("09:20"), "A"),
            call(at("10:00"), "A"),  # same time as the conversion: not strictly before
            deal("created", "D1", at("10:00"), 100, "A", team="t2", rep="r2"),
            deal("created", "D4", at("11:30"), 100, "A", team="t2", rep="r2"),  # not A's conversion
            lead("B", at("09:00")),
            deal("created", "D2", at("11:00"), 100, "B", team="t2", rep="r2"),
            # C's creation is never seen: its conversion counts nowhere
            call(at("08:00"), "C"),
            call(at("08:01"), "C"),
            deal("created", "D3", at("11:00"), 1, "C", team="t2", rep="r2"),
        ]
    )
    assert val(r, "salesfloor_contacts_before_conversion_avg", "t2", "r2") == 1.0  # (2 + 0) / 2
    assert val(r, "salesfloor_contacts_before_conversion_avg") == 1.0
    assert val(r, "salesfloor_contacts_before_conversion_avg", "t1", "r1") is None
    assert val(r, "salesfloor_leads_converted", "t1", "r1") == 2  # lead's team and owner
    assert val(r, "salesfloor_lead_conversion_ratio", "t1", "r1") == 1.0
    assert val(r, "salesfloor_opportunities_opened", "t2", "r2") == 4


def test_conversion_today_raises_yesterdays_conversion_ratio() -> None:
    events = [lead("A", at("10:00", day=21)), lead("B", at("10:00", day=21))]
    assert val(run(events, day=YESTERDAY), "salesfloor_lead_conversion_ratio") == 0.0
    events.append(deal("created", "D1", at("09:00"), 500, "A", rep="r2"))
    past = run(events, day=YESTERDAY)
    assert val(past, "salesfloor_leads_converted", "t1", "r1") == 1
    assert val(past, "salesfloor_lead_conversion_ratio", "t1", "r1") == 0.5
    assert val(past, "salesfloor_opportunities_opened") == 0
    now = run(events)
    assert val(now, "salesfloor_leads_converted") == 0
    assert val(now, "salesfloor_lead_conversion_ratio") is None  # no lead created today
    assert val(now, "salesfloor_lead_conversion_ratio", window="month") == 0.5
    assert val(now, "salesfloor_contacts_before_conversion_avg", "t1", "r2") == 0.0


def test_later_lead_created_changes_nothing() -> None:
    r = run([lead("A", at("11:00"), team="t2", rep="r2"), lead("A", at("10:00"), team="t1", rep="r1")])
    assert val(r, "salesfloor_leads_created", "t1", "r1") == 1
    assert val(r, "salesfloor_leads_created") == 1
    assert val(r, "salesfloor_leads_created", "t2") is None
    assert val(r, "salesfloor_lead_oldest_awaiting_seconds", "t1", rep=None, window=None) == 7230.0


# ------------------------------------------------------------------------------------------ deals


def test_deal_counts_amounts_win_ratio_deal_size_and_sales_cycle() -> None:
    r = run(
        [
            deal("created", "D1", at("09:00"), 1000),
            deal("won", "D1", at("10:00"), 1200),
            deal("created", "D2", at("09:30"), 500),
            deal("lost", "D2", at("11:00"), 500),
            deal("lost", "D3", at("11:10")),  # no amount: adds 0; creation unseen
            deal("won", "D4", at("11:20"), 800, rep="r2"),  # creation unseen: not in the cycle
            deal("won", "D5", at("11:30"), 300),
            deal("created", "D5", at("11:40"), 300),  # cycle floored at 0
        ]
    )
    expected = {
        ("t1", "r1"): (3, 2, 2, 1500, 500, 0.5, 750, 1800),
        ("t1", "r2"): (0, 1, 0, 800, 0, 1.0, 800, None),
        ("t1", ALL): (3, 3, 2, 2300, 500, 0.6, 2300 / 3, 1800),
        (ALL, ALL): (3, 3, 2, 2300, 500, 0.6, 2300 / 3, 1800),
    }
    names = [
        "opportunities_opened",
        "deals_won",
        "deals_lost",
        "won_amount",
        "lost_amount",
        "win_ratio",
        "average_deal_size",
        "sales_cycle_seconds_avg",
    ]
    for (team, rep), values in expected.items():
        got = tuple(val(r, f"salesfloor_{name}", team, rep) for name in names)
        assert got == pytest.approx(values), (team, rep)


def test_sales_cycle_uses_earliest_created_and_won_time_window() -> None:
    r = run(
        [
            deal("created", "D1", at("10:00", day=20), 10),
            deal("created", "D1", at("10:00", day=21), 10),
            deal("won", "D1", at("10:00"), 10),
        ]
    )
    assert val(r, "salesfloor_sales_cycle_seconds_avg") == 2 * 86400.0
    assert val(r, "salesfloor_opportunities_opened") == 0
    assert val(r, "salesfloor_opportunities_opened", window="month") == 2  # events, not deals


def test_win_ratio_not_exported_without_closed_deals() -> None:
    r = run([deal("created", "D1", at("10:00"), 10)])
    assert val(r, "salesfloor_win_ratio") is None
    assert val(r, "salesfloor_average_deal_size") is None
    assert val(r, "salesfloor_deals_won") == 0


# ------------------------------------------------------------------------------------------ calls


def test_calls_connect_ratio_and_talk_time() -> None:
    r = run(
        [
            call(at("09:00"), duration_s=120),
            call(at("09:10"), duration_s=30.5),
            call(at("09:20"), outcome="no_answer", duration_s=0),
            call(at("09:30"), direction="inbound", duration_s=200),  # counts in talk time only
            call(at("09:40"), direction="inbound", outcome="no_answer", duration_s=5),
            call(at("09:50"), outcome="busy", duration_s=0, rep="r2"),
        ]
    )
    assert val(r, "salesfloor_calls_outbound", "t1", "r1") == 3
    assert val(r, "salesfloor_calls_connected", "t1", "r1") == 2
    assert val(r, "salesfloor_call_connect_ratio", "t1", "r1") == pytest.approx(2 / 3)
    assert val(r, "salesfloor_talk_time_seconds", "t1", "r1") == 350.5
    assert val(r, "salesfloor_call_connect_ratio", "t1", "r2") == 0.0
    assert val(r, "salesfloor_talk_time_seconds", "t1", "r2") == 0.0
    assert val(r, "salesfloor_call_connect_ratio", "t1") == 0.5  # 2 / 4 from the events, not (2/3 + 0) / 2
    assert val(r, "salesfloor_call_connect_ratio") == 0.5


# ----------------------------------------------------------------------------------------- emails


def test_email_ratios_replies_and_unseen_sends() -> None:
    r = run(
        [
            email("E1", at("09:00")),
            email("E2", at("09:10")),
            email("E3", at("09:20")),
            email("E4", at("09:30")),
            email("E1", at("09:40")),  # the same email sent again (new event_id): still one email
            email("E1", at("10:00"), kind="opened"),
            email("E1", at("10:05"), kind="opened"),
            email("E2", at("10:10"), kind="opened", rep=None),
            email("E1", at("10:20"), kind="clicked"),
            email("E2", at("10:30"), kind="replied"),
            email("E9", at("10:40"), kind="opened", team="t9", rep="r9"),  # sent never seen
            email("E9", at("10:41"), kind="replied", team="t9", rep="r9"),
        ]
    )
    for team, rep in [("t1", "r1"), ("t1", ALL), (ALL, ALL)]:
        assert val(r, "salesfloor_emails_sent", team, rep) == 4
        assert val(r, "salesfloor_email_open_ratio", team, rep) == 0.5
        assert val(r, "salesfloor_email_click_ratio", team, rep) == 0.25
        assert val(r, "salesfloor_email_reply_ratio", team, rep) == 0.25
        assert val(r, "salesfloor_email_replies", team, rep) == 1
    assert not [labels for _, labels in r if ("team", "t9") in labels]


def test_reply_today_raises_yesterdays_reply_ratio() -> None:
    events = [
        email("E1", at("23:00", day=21)),
        email("E2", at("23:10", day=21)),
        email("E1", at("08:00"), kind="replied"),
    ]
    past = run(events, day=YESTERDAY)
    assert val(past, "salesfloor_email_reply_ratio") == 0.5
    assert val(past, "salesfloor_email_replies") == 1
    now = run(events)
    assert val(now, "salesfloor_email_replies") == 0
    assert val(now, "salesfloor_email_reply_ratio") is None


# ---------------------------------------------------------------------------------------- targets


def test_targets_latest_value_quota_attainment_per_rep_and_team() -> None:
    r = run(
        [
            ev("target.set", at("09:00", day=1), period="2026-11", metric="won_amount", value=1000),
            ev("target.set", at("09:00", day=2), period="2026-11", metric="won_amount", value=2000),
            ev(
                "target.set",
                at("09:00", day=2),
                rep="r2",
                eid="tgt-b",
                period="2026-11",
                metric="won_amount",
                value=400,
            ),
            ev(
                "target.set",
                at("09:00", day=2),
                rep="r2",
                eid="tgt-a",
                period="2026-11",
                metric="won_amount",
                value=100,
            ),
            ev("target.set", at("09:00", day=3), rep=None, period="2026-11", metric="won_amount", value=5000),
            ev("target.set", at("09:00", day=3), rep="r3", period="2026-11", metric="won_amount", value=0),
            ev("target.set", at("09:00", day=3), period="2026-10", metric="won_amount", value=999),
            deal("won", "D1", at("10:00"), 500),
            deal("won", "D2", at("10:00"), 100, rep="r2"),
            deal("won", "D3", at("10:00", day=3), 300),
            deal("won", "D4", at("10:00", day=30, month=10), 1000),
        ]
    )
    target = {labels: v for (name, labels), v in r.items() if name == "salesfloor_target_amount"}
    quota = {labels: v for (name, labels), v in r.items() if name == "salesfloor_quota_attainment_ratio"}

    def labels(team: str, rep: str) -> tuple[tuple[str, str], ...]:
        return (("rep", rep), ("team", team), ("window", "month"))

    assert target == {
        labels("t1", "r1"): 2000,
        labels("t1", "r2"): 400,
        labels("t1", ALL): 5000,
        labels("t1", "r3"): 0,
    }
    assert quota == {labels("t1", "r1"): 0.4, labels("t1", "r2"): 0.25, labels("t1", ALL): 0.18}
    october = run(
        [
            ev("target.set", at("09:00", day=3), period="2026-10", metric="won_amount", value=500),
            deal("won", "D4", at("10:00", day=30, month=10), 1000),
        ],
        day=date(2026, 10, 30),
    )
    assert val(october, "salesfloor_quota_attainment_ratio", "t1", "r1", window="month") == 2.0


# ------------------------------------------------------------------------------------ live gauges


def test_awaiting_leads_reassignment_disqualified_converted_and_oldest_age() -> None:
    r = run(
        [
            lead("L1", at("11:00")),
            ev("lead.assigned", at("11:05"), rep="r2", lead_id="L1"),
            lead("L2", at("10:00")),
            ev("lead.disqualified", at("10:30"), rep=None, lead_id="L2"),
            lead("L3", at("09:00")),
            deal("created", "D3", at("09:30"), 10, "L3"),
            lead("L4", at("08:00")),
            call(at("08:01"), "L4", direction="inbound", outcome="no_answer"),
            lead("L5", at("07:00")),
            email("m5", at("07:01"), "L5"),
            ev("lead.assigned", at("07:00"), rep="r1", lead_id="L6"),  # creation never seen
            lead("L7", at("11:30"), team="t2", rep=None),
            lead("L8", at("11:50"), rep="r3"),
            ev("lead.assigned", at("11:52"), rep="r4", lead_id="L8"),  # latest by event time...
            ev("lead.assigned", at("11:51"), rep="r2", lead_id="L8"),  # ...even though this arrives later
        ]
    )

    def awaiting(team: str, rep: str) -> float | None:
        return val(r, "salesfloor_leads_awaiting_response", team, rep, window=None)

    assert awaiting("t1", "r2") == 1
    assert awaiting("t1", "r1") == 1
    assert awaiting("t1", "r4") == 1
    assert awaiting("t1", "r3") == 0
    assert awaiting("t1", ALL) == 3
    assert awaiting("t2", "_unassigned") == 1
    assert awaiting("t2", ALL) == 1
    assert awaiting(ALL, ALL) == 4
    oldest = {labels: v for (name, labels), v in r.items() if name == "salesfloor_lead_oldest_awaiting_seconds"}
    assert oldest == {
        (("team", "t1"),): 4 * 3600 + 30.0,
        (("team", "t2"),): 1830.0,
        (("team", ALL),): 14430.0,
    }


def test_oldest_awaiting_is_zero_when_none() -> None:
    r = run([lead("A", at("10:00")), call(at("10:01"), "A")])
    assert val(r, "salesfloor_lead_oldest_awaiting_seconds", "t1", rep=None, window=None) == 0.0
    assert val(r, "salesfloor_lead_oldest_awaiting_seconds", rep=None, window=None) == 0.0
    assert val(r, "salesfloor_leads_awaiting_response", window=None) == 0


def test_pipeline_open_amount() -> None:
    r = run(
        [
            deal("created", "D1", at("09:00"), 100),
            deal("created", "D1", at("10:00"), 200),  # earliest amount
            deal("created", "D2", at("09:00"), 200),
            deal("won", "D2", at("11:00"), 200),
            deal("created", "D3", at("09:00"), 50, rep="r2"),
            deal("lost", "D3", at("11:00"), rep="r2"),
            deal("created", "D4", at("09:00"), 70, rep="r2"),
            deal("created", "D5", at("09:00"), 30, team="t2", rep="r5"),
            # created in an earlier month, still open
            deal("created", "D6", at("09:00", day=20, month=10), 5, team="t2", rep="r5"),
        ]
    )
    expected = {
        ("t1", "r1"): 100,
        ("t1", "r2"): 70,
        ("t1", ALL): 170,
        ("t2", "r5"): 35,
        ("t2", ALL): 35,
        (ALL, ALL): 205,
    }
    for (team, rep), amount in expected.items():
        assert val(r, "salesfloor_pipeline_open_amount", team, rep, window=None) == amount


# ---------------------------------------------------------------------------- duplicates and late


def test_duplicates_ignored_first_occurrence_wins() -> None:
    r = run(
        [
            lead("A", at("10:00"), eid="dup"),
            lead("B", at("10:00"), rep="r2", eid="dup"),
            call(at("10:05"), eid="c1", duration_s=10),
            call(at("10:05"), eid="c1", duration_s=10),
        ]
    )
    assert val(r, "salesfloor_leads_created") == 1
    assert val(r, "salesfloor_leads_created", "t1", "r1") == 1
    assert val(r, "salesfloor_leads_created", "t1", "r2") is None
    assert val(r, "salesfloor_talk_time_seconds") == 10


def test_late_events_dropped_at_the_retention_boundary() -> None:
    r = run(
        [
            lead("OLD", "2026-10-13T12:00:29.999999Z"),
            lead("EDGE", "2026-10-13T12:00:30Z"),
            lead("A", at("10:00")),
            call("2026-10-01T10:00:00Z", "A"),
        ]
    )
    assert val(r, "salesfloor_leads_awaiting_response", window=None) == 2  # EDGE and A (late contact ignored)
    assert val(r, "salesfloor_leads_responded", window="month") == 0
    short = run([lead("A", at("10:00")), lead("B", at("11:30"))], retention_s=3600)
    assert val(short, "salesfloor_leads_created") == 1


def test_late_event_does_not_claim_its_event_id() -> None:
    r = run([lead("OLD", "2026-09-01T10:00:00Z", eid="x"), lead("A", at("10:00"), eid="x")])
    assert val(r, "salesfloor_leads_created") == 1


# ---------------------------------------------------------------------------------------- windows


def test_last_60m_boundaries_and_future_events() -> None:
    r = run(
        [
            lead("IN", at("11:01:00")),
            lead("OUT", "2026-11-22T11:00:59.999999Z"),
            lead("NOWMIN", at("12:00:59")),
            lead("FUTURE", at("12:01:00")),
        ]
    )
    assert val(r, "salesfloor_leads_created", window="last_60m") == 2
    assert val(r, "salesfloor_leads_created", window="today") == 4
    assert val(r, "salesfloor_leads_created", window="month") == 4


def test_warsaw_25_hour_day() -> None:
    now = datetime(2026, 10, 25, 22, 45, tzinfo=UTC)  # 23:45 CET on the 25-hour day
    events = [
        lead(f"L{i}", t)
        for i, t in enumerate(
            [
                "2026-10-25T00:30:00+02:00",  # 00:30 local (CEST): today
                "2026-10-25T23:30:00+01:00",  # 23:30 local (CET): today
                "2026-10-25T00:30:00Z",  # 02:30 CEST: today
                "2026-10-25T01:30:00Z",  # 02:30 CET (the repeated hour): today
                "2026-10-24T21:59:59Z",  # 23:59:59 on the 24th
                "2026-10-25T23:00:00Z",  # 00:00 on the 26th
            ]
        )
    ]
    r = run(events, now=now, tz="Europe/Warsaw", max_future_s=3600)
    assert val(r, "salesfloor_leads_created") == 4
    assert val(r, "salesfloor_leads_created", window="month") == 6
    utc = run(events, now=now, max_future_s=3600)
    assert val(utc, "salesfloor_leads_created") == 4  # the UTC day is another set


def test_warsaw_23_hour_day() -> None:
    now = datetime(2026, 3, 29, 21, 30, tzinfo=UTC)  # 23:30 CEST on the 23-hour day
    events = [
        lead(f"L{i}", t)
        for i, t in enumerate(
            [
                "2026-03-28T23:00:00Z",  # 00:00 CET on the 29th
                "2026-03-28T22:59:59Z",  # 23:59:59 on the 28th
                "2026-03-29T03:30:00+02:00",  # just after the jump
                "2026-03-29T21:59:59Z",  # 23:59:59 CEST on the 29th
                "2026-03-29T22:00:00Z",  # 00:00 on the 30th
            ]
        )
    ]
    r = run(events, now=now, tz="Europe/Warsaw", max_future_s=3600)
    assert val(r, "salesfloor_leads_created") == 3
    assert val(r, "salesfloor_leads_created", window="month") == 5
    past = run(events, now=now, tz="Europe/Warsaw", day=date(2026, 3, 28))
    assert val(past, "salesfloor_leads_created") == 1


def test_business_day_differs_from_utc_day() -> None:
    now = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)  # 2026-11-21 19:00 in Los Angeles
    events = [
        lead("A", "2026-11-21T08:00:00Z"),
        lead("B", "2026-11-21T07:59:59Z"),
        lead("C", "2026-11-22T02:00:00Z"),
    ]
    assert val(run(events, now=now, tz="America/Los_Angeles"), "salesfloor_leads_created") == 2
    assert val(run(events, now=now), "salesfloor_leads_created") == 1


def test_business_month_differs_from_utc_month() -> None:
    now = datetime(2026, 10, 31, 12, 0, tzinfo=UTC)  # 2026-11-01 01:00 in Auckland
    events = [
        lead("A", "2026-10-31T11:30:00Z"),
        lead("B", "2026-10-31T10:59:00Z"),
        ev("target.set", "2026-10-31T11:00:00Z", period="2026-11", metric="won_amount", value=10),
    ]
    r = run(events, now=now, tz="Pacific/Auckland")
    assert val(r, "salesfloor_leads_created") == 1
    assert val(r, "salesfloor_leads_created", window="month") == 1
    assert val(r, "salesfloor_target_amount", "t1", "r1", window="month") == 10
    utc = run(events, now=now)
    assert val(utc, "salesfloor_leads_created", window="month") == 2
    assert val(utc, "salesfloor_target_amount", "t1", "r1", window="month") is None


# ------------------------------------------------------------------------------- series and format


def test_empty_log_exports_floor_counts_and_live_gauges_only() -> None:
    r = run([])
    expected: set[tuple[str, tuple[tuple[str, str], ...]]] = {
        (name, (("rep", ALL), ("team", ALL), ("window", w)))
        for name in COUNT_METRICS
        for w in ("today", "month", "last_60m")
    }
    expected |= {
        ("salesfloor_deals_entered_stage", (("rep", ALL), ("stage", stage), ("team", ALL), ("window", w)))
        for stage in STAGES
        for w in ("today", "month", "last_60m")
    }
    expected |= {
        ("salesfloor_leads_awaiting_response", (("rep", ALL), ("team", ALL))),
        ("salesfloor_pipeline_open_amount", (("rep", ALL), ("team", ALL))),
        ("salesfloor_lead_oldest_awaiting_seconds", (("team", ALL),)),
        ("salesfloor_lead_oldest_awaiting_business_seconds", (("team", ALL),)),
    }
    expected |= {
        ("salesfloor_pipeline_open_amount_by_stage", (("stage", stage), ("team", ALL)))
        for stage in ("created", *STAGES)
    }
    breakdowns = {
        "salesfloor_leads_created_by_source": ("source", SOURCES),
        "salesfloor_leads_converted_by_source": ("source", SOURCES),
        "salesfloor_won_amount_by_source": ("source", SOURCES),
        "salesfloor_leads_by_response": ("response", ("le_5m", "le_1h", "le_24h", "gt_24h", "none")),
        "salesfloor_leads_converted_by_contacts": ("contacts", ("0", "1", "2", "3-4", "5-7", "8-12", "13+")),
    }
    expected |= {
        (name, tuple(sorted({"team": ALL, "window": w, label: value}.items())))
        for name, (label, values) in breakdowns.items()
        for value in values
        for w in ("today", "month", "last_60m")
    }
    assert set(r) == expected
    assert set(r.values()) == {0.0}


def test_rep_and_team_with_data_export_every_count_in_every_window() -> None:
    r = run([call(at("10:00", day=2), rep="r7", team="t7", outcome="no_answer")])
    for team, rep in [("t7", "r7"), ("t7", ALL), (ALL, ALL)]:
        for window in ("today", "month", "last_60m"):
            for name in COUNT_METRICS:
                assert val(r, name, team, rep, window) is not None, (name, team, rep, window)
            for stage in STAGES:
                assert val(r, "salesfloor_deals_entered_stage", team, rep, window, stage=stage) == 0
        assert val(r, "salesfloor_call_connect_ratio", team, rep, "today") is None  # denominator 0
        assert val(r, "salesfloor_call_connect_ratio", team, rep, "month") == 0.0
        assert val(r, "salesfloor_leads_awaiting_response", team, rep, window=None) == 0


def test_team_and_floor_statistics_come_from_events_not_rep_averages() -> None:
    r = run(
        response_events([10, 20, 30], rep="r1")
        + response_events([100], rep="r2")
        + [lead("X", at("10:00"), team="t2"), call(at("10:16:40"), "X", team="t2")]
    )
    assert val(r, "salesfloor_lead_response_seconds", "t1", "r1", stat="avg") == 20.0
    assert val(r, "salesfloor_lead_response_seconds", "t1", "r2", stat="avg") == 100.0
    assert val(r, "salesfloor_lead_response_seconds", "t1", stat="avg") == 40.0  # not (20 + 100) / 2
    assert val(r, "salesfloor_lead_response_seconds", "t1", stat="p50") == 20.0
    assert val(r, "salesfloor_lead_response_seconds", stat="avg") == 232.0  # (10+20+30+100+1000) / 5
    assert val(r, "salesfloor_lead_response_seconds", stat="p90") == 1000.0
    assert val(r, "salesfloor_lead_response_within_sla_ratio") == 0.8


def test_past_day_omits_last_60m_and_live_gauges() -> None:
    r = run([lead("A", at("10:00", day=21)), lead("B", at("10:00"))], day=YESTERDAY)
    assert val(r, "salesfloor_leads_created") == 1
    assert val(r, "salesfloor_leads_created", window="month") == 2
    assert not [k for k in r if ("window", "last_60m") in k[1]]
    assert not [k for k in r if not any(name == "window" for name, _ in k[1])]


def test_format_report_sorted_prometheus_lines() -> None:
    result = {
        ("m_b", (("rep", 'r"1'), ("team", "t1"))): 2.0,
        ("m_a", (("team", "_all"),)): 0.5,
        ("m_a", ()): 1e20,
    }
    assert format_report(result) == 'm_a 1e+20\nm_a{team="_all"} 0.5\nm_b{rep="r\\"1",team="t1"} 2\n'
    lines = format_report(run([lead("A", at("10:00"))])).splitlines()
    assert 'salesfloor_leads_created{rep="r1",team="t1",window="today"} 1' in lines
    assert lines == sorted(lines)


def test_fifty_thousand_events_in_a_few_seconds() -> None:
    rng = random.Random(1)
    events: list[dict[str, Any]] = []
    for i in range(10_000):
        rep, minute = f"r{i % 50}", rng.randrange(0, 24 * 60 * 30)
        stamp = f"2026-11-{1 + minute // 1440:02d}T{minute % 1440 // 60:02d}:{minute % 60:02d}:00Z"
        events += [
            lead(f"L{i}", stamp, rep=rep, team=f"t{i % 5}"),
            call(stamp, f"L{i}", rep=rep),
            email(f"E{i}", stamp, f"L{i}", rep=rep),
            deal("created", f"D{i}", stamp, 10.0, f"L{i}", rep=rep),
            deal("won", f"D{i}", stamp, 10.0, rep=rep),
        ]
    started = time.perf_counter()
    r = compute(events, now=NOW, max_future_s=math.inf)  # the log runs to the end of the month
    assert time.perf_counter() - started < 10
    assert val(r, "salesfloor_leads_created", window="month") == 10_000
    assert val(r, "salesfloor_deals_won", window="month") == val(r, "salesfloor_leads_created", window="month")


def test_the_reference_imports_only_the_standard_library_and_itself() -> None:
    """The oracle stays independent of what it audits: nothing from agents/ (or the rest of streams)."""
    for path in sorted(Path(streams.audit.__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: relative import"
                modules = [node.module or ""]
            else:
                continue
            for module in modules:
                top = module.partition(".")[0]
                own = module == "streams.audit" or module.startswith("streams.audit.")
                assert top in sys.stdlib_module_names or own, f"{path.name} imports {module}"

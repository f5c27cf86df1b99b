"""Unit tests of the reference computation's targets for every §4.3 metric (day and month periods) and
of the won amount's month-over-month growth. Expected values are worked out by hand from SPEC.md §4
and docs/kpi-rules.md.

As in test_reference: now = 2026-11-22 12:00:30 UTC (a Sunday), time zone UTC, unless a test says so.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from tests.unit.test_reference import ALL, YESTERDAY, at, call, deal, ev, lead, run, series_of, val

RETAIN_90_DAYS = 90 * 86400


def target(period: str, metric: str, value: float, when: str = at("08:00", day=1), **kw: Any) -> dict[str, Any]:
    return ev("target.set", when, period=period, metric=metric, value=value, **kw)


def held(meeting_id: str, when: str, lead_id: str | None = None, **kw: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {"meeting_id": meeting_id, "outcome": "held"}
    if lead_id is not None:
        fields["lead_id"] = lead_id
    return ev("meeting.completed", when, **fields, **kw)


def metric_series(result: dict[Any, float], name: str) -> dict[tuple[str, str, str, str], float]:
    """{(team, rep, window, metric): value} of one target metric family."""
    out = {}
    for (metric, labels), value in result.items():
        if metric == name:
            d = dict(labels)
            out[(d["team"], d["rep"], d["window"], d["metric"])] = value
    return out


# ---------------------------------------------------------------------------------------- targets

TARGET_EVENTS = [
    target("2026-11-22", "calls_outbound", 8, at("09:00", day=21)),
    target("2026-11-22", "calls_outbound", 4, at("08:00")),  # the latest wins
    target("2026-11-21", "calls_outbound", 10),  # yesterday's day target
    target("2026-11", "meetings_held", 4, rep=None),  # a team target
    target("2026-11-22", "meetings_held", 0, rep=None),  # 0: no attainment
    target("2026-11", "deals_won", 2),
    target("2026-11-22", "leads_responded", 2, rep="r2"),
    target("2026-10", "calls_outbound", 1),  # another month
    call(at("09:00")),
    call(at("10:00"), outcome="no_answer"),
    call(at("10:30"), direction="inbound"),  # inbound: not outbound
    call(at("10:00", day=21)),
    held("M1", at("10:00")),
    held("M2", at("10:00", day=21), rep="r2"),
    ev("meeting.completed", at("10:00"), meeting_id="M3", outcome="no_show"),
    lead("L", at("09:00")),
    held("M4", at("09:30"), "L", rep="r2"),  # held with a lead: also r2's response
    deal("won", "D1", at("11:00"), 500),
]


def test_day_target_in_today_and_month_target_in_month_with_attainment() -> None:
    r = run(TARGET_EVENTS)
    assert metric_series(r, "salesfloor_target_value") == {
        ("t1", "r1", "today", "calls_outbound"): 4,
        ("t1", ALL, "month", "meetings_held"): 4,
        ("t1", ALL, "today", "meetings_held"): 0,
        ("t1", "r1", "month", "deals_won"): 2,
        ("t1", "r2", "today", "leads_responded"): 2,
    }
    assert metric_series(r, "salesfloor_target_attainment_ratio") == {
        ("t1", "r1", "today", "calls_outbound"): 0.5,  # 2 outbound calls today ÷ 4
        ("t1", ALL, "month", "meetings_held"): 0.75,  # M1, M2, M4 ÷ 4
        ("t1", "r1", "month", "deals_won"): 0.5,
        ("t1", "r2", "today", "leads_responded"): 0.5,
    }
    assert series_of(r, "salesfloor_target_amount") == set()  # only won_amount month targets
    assert series_of(r, "salesfloor_quota_attainment_ratio") == set()


def test_past_day_exports_that_days_target() -> None:
    r = run(TARGET_EVENTS, day=YESTERDAY)
    values = metric_series(r, "salesfloor_target_attainment_ratio")
    assert values[("t1", "r1", "today", "calls_outbound")] == 0.1  # 1 outbound call on the 21st ÷ 10
    assert values[("t1", ALL, "month", "meetings_held")] == 0.75
    assert ("t1", "r2", "today", "leads_responded") not in values


def test_won_amount_targets_keep_target_amount_and_quota() -> None:
    r = run(
        [
            target("2026-11", "won_amount", 2000),
            target("2026-11-22", "won_amount", 1000),
            target("2026-11", "deals_won", 5),  # another metric: not a quota, and not overwriting it
            deal("won", "D1", at("10:00"), 500),
            deal("won", "D2", at("10:00", day=2), 300),
        ]
    )
    labels = (("rep", "r1"), ("team", "t1"), ("window", "month"))
    assert r[("salesfloor_target_amount", labels)] == 2000
    assert r[("salesfloor_quota_attainment_ratio", labels)] == 0.4
    attainment = metric_series(r, "salesfloor_target_attainment_ratio")
    assert attainment == {
        ("t1", "r1", "month", "won_amount"): 0.4,
        ("t1", "r1", "today", "won_amount"): 0.5,
        ("t1", "r1", "month", "deals_won"): 0.4,
    }
    assert not [k for k in metric_series(r, "salesfloor_target_value") if k[0] == ALL]  # no floor series


@pytest.mark.parametrize(("tz", "expected"), [("Europe/Warsaw", 1.0), ("UTC", 0.75)])
def test_day_target_on_the_25_hour_day_counts_all_its_events(tz: str, expected: float) -> None:
    now = datetime(2026, 10, 25, 22, 45, tzinfo=UTC)  # 23:45 CET on the 25-hour day
    events = [
        target("2026-10-25", "calls_outbound", 4, "2026-10-20T08:00:00Z"),
        call("2026-10-24T22:30:00Z"),  # 00:30 CEST on the 25th
        call("2026-10-25T00:30:00Z"),  # 02:30 CEST
        call("2026-10-25T01:30:00Z"),  # 02:30 CET, the repeated hour
        call("2026-10-25T22:30:00Z"),  # 23:30 CET
        call("2026-10-24T21:59:59Z"),  # 23:59:59 on the 24th
    ]
    r = run(events, now=now, tz=tz)
    assert val(r, "salesfloor_target_value", "t1", "r1", metric="calls_outbound") == 4
    assert val(r, "salesfloor_target_attainment_ratio", "t1", "r1", metric="calls_outbound") == expected


# ----------------------------------------------------------------------------------------- growth


def growth(result: dict[Any, float], team: str = ALL, rep: str = ALL) -> float | None:
    return val(result, "salesfloor_won_amount_growth_ratio", team, rep, window="month")


def test_growth_compares_with_the_whole_shorter_previous_month() -> None:
    now = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)  # 29 days and 12 h into March; February has 28
    events = [
        deal("won", "D0", "2026-01-31T12:00:00Z", 999),  # two months back
        deal("won", "D1", "2026-02-01T10:00:00Z", 100),
        deal("won", "D2", "2026-02-28T23:59:59Z", 100),
        deal("won", "D3", "2026-03-05T10:00:00Z", 300),
        deal("lost", "D4", "2026-02-10T10:00:00Z", 5000),  # lost: no won amount
    ]
    r = run(events, now=now, retention_s=RETAIN_90_DAYS)
    assert growth(r) == 0.5
    assert growth(r, "t1") == 0.5
    assert growth(r, "t1", "r1") == 0.5
    assert {dict(labels)["window"] for labels in series_of(r, "salesfloor_won_amount_growth_ratio")} == {"month"}


MID_MARCH = datetime(2026, 3, 15, 12, 0, 30, tzinfo=UTC)  # cut: February 15, 12:00:30
MID_MARCH_EVENTS = [
    deal("won", "J1", "2026-01-01T00:00:00Z", 500),
    deal("won", "J2", "2026-01-31T23:59:59Z", 500),
    deal("won", "F1", "2026-02-14T23:00:00Z", 100),
    deal("won", "F2", "2026-02-15T12:00:29.999Z", 50),  # 12:00:29 on the wall clock: before the cut
    deal("won", "F3", "2026-02-15T12:00:30Z", 1000),  # at the cut: after it
    deal("won", "F4", "2026-02-15T12:00:30.9Z", 1000),
    deal("won", "F5", "2026-02-16T09:00:00Z", 1000),
    deal("won", "F6", "2026-02-10T09:00:00Z", 100, rep="r2"),
    deal("won", "M1", "2026-03-01T09:00:00Z", 300),
    deal("won", "M2", "2026-03-02T09:00:00Z", 50, rep="r3"),
]


def test_growth_cuts_the_previous_month_at_the_same_local_offset() -> None:
    r = run(MID_MARCH_EVENTS, now=MID_MARCH, retention_s=RETAIN_90_DAYS)
    assert growth(r, "t1", "r1") == 1.0  # 300 ÷ (100 + 50) − 1
    assert growth(r, "t1", "r2") == -1.0  # nothing so far this month
    assert growth(r, "t1", "r3") is None  # nothing before the cut last month
    assert growth(r, "t1") == pytest.approx(0.4)  # 350 ÷ 250 − 1
    assert growth(r) == pytest.approx(0.4)
    # a past day of the current month: the month so far still ends at now
    assert growth(run(MID_MARCH_EVENTS, now=MID_MARCH, retention_s=RETAIN_90_DAYS, day=date(2026, 3, 10))) == (
        pytest.approx(0.4)
    )


def test_growth_of_a_past_month_compares_whole_months() -> None:
    # February (28 days) is past: all of it against all of January (31 days, J2 on the 31st included)
    r = run(MID_MARCH_EVENTS, now=MID_MARCH, retention_s=RETAIN_90_DAYS, day=date(2026, 2, 10))
    assert growth(r, "t1", "r1") == pytest.approx(3150 / 1000 - 1)
    assert growth(r, "t1") == pytest.approx(3250 / 1000 - 1)
    assert growth(r, "t1", "r2") is None  # nothing in January


def test_growth_cut_is_on_the_local_wall_clock() -> None:
    now = datetime(2026, 4, 10, 8, 0, tzinfo=UTC)  # 10:00 CEST; the cut is 10 March 10:00 CET (09:00 UTC)
    events = [
        deal("won", "F1", "2026-03-10T08:59:59Z", 100),  # 09:59:59 CET
        deal("won", "F2", "2026-03-10T09:00:00Z", 1000),  # 10:00:00 CET
        deal("won", "F3", "2026-02-28T23:30:00Z", 1000),  # 00:30 on 1 March in Warsaw, but late
        deal("won", "A1", "2026-03-31T22:30:00Z", 200),  # 00:30 CEST on 1 April
    ]
    r = run(events, now=now, tz="Europe/Warsaw")
    assert growth(r) == 1.0
    longer = run(events, now=now, tz="Europe/Warsaw", retention_s=RETAIN_90_DAYS)
    assert growth(longer) == pytest.approx(200 / 1100 - 1)  # F3 retained: 1 March 00:30 local counts


def test_growth_not_exported_without_a_previous_amount() -> None:
    r = run([deal("won", "D1", at("10:00"), 100), lead("L", at("10:00", day=20, month=10))])
    assert series_of(r, "salesfloor_won_amount_growth_ratio") == set()

"""Business time in the reference computation (SPEC §2 ``calendar.set``, §4 "Business time"): the
business response time, the SLA clock, the assignment response time and the oldest awaiting lead's
business age. Every expected value is worked out by hand from the contract and docs/kpi-rules.md.

Unless a test says otherwise: team ``t1`` works in America/New_York, open Monday to Friday 09:00-17:00;
the worker's time zone is UTC; SLA 300 s. 2026-11-13 is a Friday (EST, UTC-5); the US changes clocks
on 2026-03-08 (02:00 -> 03:00) and 2026-11-01 (02:00 -> 01:00), both Sundays.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from streams.audit.calendars import business_us, local_instant, parse_calendar
from streams.audit.facts import Result, key
from streams.audit.reference import compute, to_us
from streams.sim.simulator import FloorConfig, generate

NY = ZoneInfo("America/New_York")
ALL = "_all"
WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
EVERY_HOUR = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
STATS = ("avg", "p50", "p90", "max")
BUSINESS = "salesfloor_lead_response_business_seconds"
WALL = "salesfloor_lead_response_seconds"
ASSIGNMENT = "salesfloor_lead_assignment_response_seconds"
WITHIN = "salesfloor_lead_response_within_sla_ratio"
OLDEST_BUSINESS = "salesfloor_lead_oldest_awaiting_business_seconds"
OLDEST = "salesfloor_lead_oldest_awaiting_seconds"
_ids = itertools.count(1)

# ------------------------------------------------------------------------------------------ helpers


def ny(day: date, clock: str) -> datetime:
    """Local wall time in New York (an ambiguous one is its first occurrence)."""
    hours, minutes = map(int, clock.split(":"))
    return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=NY)


def stamp(moment: datetime) -> str:
    return moment.isoformat()


def ev(type_: str, when: datetime, *, team: str = "t1", rep: str | None = "r1", **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": fields.pop("eid", None) or f"b{next(_ids):08d}",
        "type": type_,
        "occurred_at": stamp(when),
        "team_id": team,
    }
    if rep is not None:
        event["rep_id"] = rep
    return event | fields


def lead(lead_id: str, when: datetime, **kw: Any) -> dict[str, Any]:
    return ev("lead.created", when, lead_id=lead_id, **kw)


def contact(lead_id: str, when: datetime, **kw: Any) -> dict[str, Any]:
    """An outbound call: a contact whatever its outcome."""
    fields = {"call_id": f"c{next(_ids)}", "direction": "outbound", "outcome": "no_answer", "duration_s": 0}
    return ev("call.completed", when, lead_id=lead_id, **fields, **kw)


def assigned(lead_id: str, when: datetime, rep: str, **kw: Any) -> dict[str, Any]:
    return ev("lead.assigned", when, lead_id=lead_id, rep=rep, **kw)


def calendar(
    when: datetime,
    hours: dict[str, list[list[str]]] | None = None,
    *,
    tz: str = "America/New_York",
    holidays: list[str] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"timezone": tz, "hours": WEEKDAYS if hours is None else hours}
    if holidays is not None:
        fields["holidays"] = holidays
    kw.setdefault("rep", None)
    return ev("calendar.set", when, **fields, **kw)


def val(result: Result, name: str, team: str = ALL, rep: str = ALL, window: str = "today", **extra: str) -> Any:
    return result.get(key(name, team=team, rep=rep, window=window, **extra))


def stats_of(result: Result, name: str, team: str = ALL, rep: str = ALL, window: str = "today") -> dict[str, Any]:
    return {stat: val(result, name, team, rep, window, stat=stat) for stat in STATS}


FRIDAY, SATURDAY, SUNDAY, MONDAY, TUESDAY = (date(2026, 11, d) for d in range(13, 18))
SETUP = ny(date(2026, 11, 2), "08:00")  # the calendar's own stamp, before everything below
MONDAY_NOW = datetime(2026, 11, 16, 15, 0, tzinfo=UTC)  # 10:00 in New York


def one_response(hours: dict[str, list[list[str]]], created: datetime, first: datetime, **kw: Any) -> float:
    """The business response of one lead of t1 (floor, last_60m, now a minute after both events)."""
    events = [calendar(created - timedelta(days=5), hours, **kw), lead("L", created), contact("L", first, rep="r2")]
    result = compute(events, now=max(created, first).astimezone(UTC) + timedelta(minutes=1))
    value = val(result, BUSINESS, window="last_60m", stat="max")
    assert isinstance(value, float)
    return value


# -------------------------------------------------------------------------------- business response


def test_a_weekend_is_closed_on_the_teams_clock() -> None:
    """Friday 16:58 -> Monday 09:03 in New York: 2 + 3 business minutes, 64 h 05 min on the wall."""
    events = [calendar(SETUP), lead("L", ny(FRIDAY, "16:58")), contact("L", ny(MONDAY, "09:03"), rep="r2")]
    result = compute(events, now=MONDAY_NOW)
    for team, rep in (("t1", "r2"), ("t1", ALL), (ALL, ALL)):
        for window in ("today", "month", "last_60m"):
            assert stats_of(result, BUSINESS, team, rep, window) == dict.fromkeys(STATS, 300.0)
            assert stats_of(result, WALL, team, rep, window) == dict.fromkeys(STATS, 230_700.0)
            assert val(result, WITHIN, team, rep, window) == 1.0  # 300 s <= SLA on the team's clock
    assert val(result, BUSINESS, "t1", "r1", stat="avg") is None  # the rep making the first contact

    without = compute(events[1:], now=MONDAY_NOW)  # no calendar: the wall clock
    assert stats_of(without, BUSINESS) == dict.fromkeys(STATS, 230_700.0)
    assert val(without, WITHIN) == 0.0


def test_a_holiday_closes_its_whole_local_date() -> None:
    events = [
        calendar(SETUP, holidays=["2026-11-16"]),
        lead("A", ny(FRIDAY, "16:58")),
        contact("A", ny(MONDAY, "10:00")),  # Monday closed: Friday's 2 minutes
        lead("B", ny(FRIDAY, "16:58")),
        contact("B", ny(TUESDAY, "09:03")),  # Friday 2 + Tuesday 3 minutes
    ]
    result = compute(events, now=datetime(2026, 11, 17, 15, 0, tzinfo=UTC))
    assert stats_of(result, BUSINESS, window="month") == {"avg": 210.0, "p50": 120.0, "p90": 300.0, "max": 300.0}
    assert val(result, WITHIN, window="month") == 1.0


@pytest.mark.parametrize(
    ("hours", "holidays", "created", "first", "expected"),
    [
        # Saturday 22:00 to Sunday 02:00 belongs to Saturday: 4 h
        ({"sat": [["22:00", "02:00"]]}, None, ny(SATURDAY, "21:00"), ny(SUNDAY, "03:00"), 4 * 3600.0),
        # a holiday on Sunday closes the part past midnight; on Saturday, the whole range
        ({"sat": [["22:00", "02:00"]]}, ["2026-11-15"], ny(SATURDAY, "21:00"), ny(SUNDAY, "03:00"), 2 * 3600.0),
        ({"sat": [["22:00", "02:00"]]}, ["2026-11-14"], ny(SATURDAY, "21:00"), ny(SUNDAY, "03:00"), 0.0),
        # equal ends: a whole day from 09:00, past midnight
        ({"mon": [["09:00", "09:00"]]}, None, ny(MONDAY, "08:00"), ny(TUESDAY, "10:00"), 86_400.0),
        # overlapping ranges count once: 09:00-13:00
        ({"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, None, ny(MONDAY, "08:00"), ny(MONDAY, "14:00"), 14_400.0),
        # 24:00 ends the day; Saturday's 00:00-01:00 follows it
        (
            {"fri": [["16:00", "24:00"]], "sat": [["00:00", "01:00"]]},
            None,
            ny(FRIDAY, "23:00"),
            ny(SATURDAY, "02:00"),
            7200.0,
        ),
        # a contact inside the open range, a few seconds after the creation: µs exact
        (WEEKDAYS, None, ny(MONDAY, "10:00"), ny(MONDAY, "10:00") + timedelta(seconds=7.25), 7.25),
        # a contact before the creation counts 0
        (WEEKDAYS, None, ny(MONDAY, "10:00"), ny(MONDAY, "09:30"), 0.0),
    ],
)
def test_ranges_past_midnight_overlaps_and_holidays(
    hours: dict[str, list[list[str]]], holidays: list[str] | None, created: datetime, first: datetime, expected: float
) -> None:
    assert one_response(hours, created, first, holidays=holidays) == expected


SPRING_SATURDAY, SPRING_SUNDAY, SPRING_MONDAY = date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9)
FALL_SATURDAY, FALL_SUNDAY, FALL_MONDAY = date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)


@pytest.mark.parametrize(
    ("hours", "created", "first", "expected"),
    [
        # the 23-hour Sunday: 01:00 EST -> 04:00 EDT is 2 h; the whole day is 23 h
        ({"sun": [["01:00", "04:00"]]}, ny(SPRING_SATURDAY, "12:00"), ny(SPRING_SUNDAY, "12:00"), 7200.0),
        ({"sun": [["00:00", "24:00"]]}, ny(SPRING_SATURDAY, "12:00"), ny(SPRING_MONDAY, "12:00"), 23 * 3600.0),
        # a range starting in the gap opens at its end (03:00 EDT); one inside the gap never opens
        ({"sun": [["02:30", "03:30"]]}, ny(SPRING_SATURDAY, "12:00"), ny(SPRING_SUNDAY, "12:00"), 1800.0),
        ({"sun": [["02:00", "02:45"]]}, ny(SPRING_SATURDAY, "12:00"), ny(SPRING_SUNDAY, "12:00"), 0.0),
        # the 25-hour Sunday
        ({"sun": [["00:00", "24:00"]]}, ny(FALL_SATURDAY, "12:00"), ny(FALL_MONDAY, "12:00"), 25 * 3600.0),
        # an ambiguous end is its first occurrence: 01:30 EDT -> 02:30 EST is 2 h
        ({"sun": [["01:30", "02:30"]]}, ny(FALL_SATURDAY, "12:00"), ny(FALL_SUNDAY, "12:00"), 7200.0),
        ({"sat": [["23:00", "01:30"]]}, ny(FALL_SATURDAY, "12:00"), ny(FALL_SUNDAY, "12:00"), 9000.0),
        # weekdays 9-17 around the change: Friday 16:00 -> Monday 10:00 is 1 + 1 h, 65 h on the wall
        (WEEKDAYS, ny(date(2026, 3, 6), "16:00"), ny(SPRING_MONDAY, "10:00"), 7200.0),
    ],
)
def test_dst_changes_are_exact(
    hours: dict[str, list[list[str]]], created: datetime, first: datetime, expected: float
) -> None:
    assert one_response(hours, created, first) == expected


def test_local_instants_of_a_gap_and_an_ambiguous_hour() -> None:
    def utc(*args: int) -> int:
        return to_us(datetime(*args, tzinfo=UTC))

    assert local_instant(NY, SPRING_SUNDAY, 2 * 60 + 30) == utc(2026, 3, 8, 7, 0)  # 03:00 EDT, the gap's end
    assert local_instant(NY, SPRING_SUNDAY, 3 * 60) == utc(2026, 3, 8, 7, 0)
    assert local_instant(NY, FALL_SUNDAY, 60 + 30) == utc(2026, 11, 1, 5, 30)  # 01:30 EDT, the first one
    assert local_instant(NY, FALL_SATURDAY, 24 * 60 + 90) == utc(2026, 11, 1, 5, 30)  # past midnight
    assert local_instant(ZoneInfo("Australia/Lord_Howe"), date(2026, 10, 4), 2 * 60 + 10) == utc(2026, 10, 3, 15, 30)


# ------------------------------------------------------------------------------ calendars over time


def test_a_late_calendar_re_evaluates_past_responses() -> None:
    """The calendar arrives last but is stamped before the lead: the response is re-evaluated."""
    events = [lead("L", ny(FRIDAY, "16:58")), contact("L", ny(MONDAY, "09:03")), calendar(SETUP)]
    result = compute(events, now=MONDAY_NOW)
    assert val(result, BUSINESS, stat="max") == 300.0
    assert val(result, WITHIN) == 1.0


def test_a_calendar_stamped_after_the_contact_changes_nothing_before_it() -> None:
    events = [lead("L", ny(FRIDAY, "16:58")), contact("L", ny(MONDAY, "09:03")), calendar(ny(MONDAY, "09:30"))]
    assert val(compute(events, now=MONDAY_NOW), BUSINESS, stat="max") == 230_700.0


def test_a_calendar_changing_mid_span_counts_each_piece_on_its_own() -> None:
    """Weekdays 9-17 until Monday 12:00, then open around the clock: 2 min + 3 h + 2 h."""
    events = [
        calendar(SETUP),
        calendar(ny(MONDAY, "12:00"), EVERY_HOUR),
        lead("L", ny(FRIDAY, "16:58")),
        contact("L", ny(MONDAY, "14:00")),
    ]
    now = datetime(2026, 11, 16, 20, 0, tzinfo=UTC)
    assert val(compute(events, now=now), BUSINESS, stat="max") == 120.0 + 3 * 3600 + 2 * 3600
    # a calendar closed all week from 12:00: nothing after it counts
    closed = [*events[:1], calendar(ny(MONDAY, "12:00"), {}), *events[2:]]
    assert val(compute(closed, now=now), BUSINESS, stat="max") == 120.0 + 3 * 3600


def test_equal_stamps_the_greatest_event_id_wins_whatever_the_arrival() -> None:
    at = ny(MONDAY, "12:00")
    pair = [calendar(at, {}, eid="cal-b"), calendar(at, EVERY_HOUR, eid="cal-a")]  # cal-b is in force
    tail = [calendar(SETUP), lead("L", ny(FRIDAY, "16:58")), contact("L", ny(MONDAY, "14:00"))]
    now = datetime(2026, 11, 16, 20, 0, tzinfo=UTC)
    for events in (pair + tail, pair[::-1] + tail):
        assert val(compute(events, now=now), BUSINESS, stat="max") == 120.0 + 3 * 3600


def test_duplicate_and_other_team_calendars_change_nothing_and_an_old_one_stays_in_force() -> None:
    base = [lead("L", ny(FRIDAY, "16:58")), contact("L", ny(MONDAY, "09:03"))]
    first = calendar(SETUP, EVERY_HOUR, eid="cal-1")
    repeated = calendar(SETUP, WEEKDAYS, eid="cal-1")  # same event_id: ignored
    assert val(compute([first, repeated, *base], now=MONDAY_NOW), BUSINESS, stat="max") == 230_700.0
    old = calendar(MONDAY_NOW - timedelta(days=41))  # older than the retention: still in force
    assert val(compute([old, *base], now=MONDAY_NOW), BUSINESS, stat="max") == 300.0
    other_team = calendar(SETUP, team="t2")
    assert val(compute([other_team, *base], now=MONDAY_NOW), BUSINESS, stat="max") == 230_700.0


# ---------------------------------------------------------------------------- assignment response


def test_assignment_response_goes_to_the_rep_of_the_latest_assignment_before_the_contact() -> None:
    day = date(2026, 11, 22)

    def t(clock: str) -> datetime:
        hours, minutes = map(int, clock.split(":"))
        return datetime(day.year, day.month, day.day, hours, minutes, tzinfo=UTC)

    events = [
        lead("L1", t("10:00")),
        assigned("L1", t("10:05"), "r2"),
        contact("L1", t("10:10"), rep="r4"),  # 300 s after r2's assignment
        assigned("L1", t("10:20"), "r3"),  # after the first contact: not it
        lead("L2", t("10:00")),
        assigned("L2", t("10:30"), "r2", team="t9"),  # the lead's team counts, not the event's
        contact("L2", t("10:30"), rep="r2"),  # at the same time: 0 s
        lead("L3", t("10:00")),
        contact("L3", t("10:40")),  # never assigned: not in the population
        lead("L4", t("10:00")),
        contact("L4", t("10:50")),
        assigned("L4", t("11:00"), "r5"),  # assigned after the first contact only
        assigned("L5", t("10:00"), "r5"),
        contact("L5", t("10:10")),  # creation never seen
        lead("L6", datetime(2026, 11, 21, 23, 0, tzinfo=UTC)),  # created yesterday
        assigned("L6", t("10:00"), "r6", eid="a-1"),
        assigned("L6", t("10:00"), "r7", eid="a-2"),  # equal times: the greatest event_id
        contact("L6", t("10:15")),  # 900 s, in today's window (the first contact's)
    ]
    result = compute(events, now=datetime(2026, 11, 22, 12, 0, 30, tzinfo=UTC))
    assert stats_of(result, ASSIGNMENT, "t1", "r2") == {"avg": 150.0, "p50": 0.0, "p90": 300.0, "max": 300.0}
    assert stats_of(result, ASSIGNMENT, "t1", "r7") == dict.fromkeys(STATS, 900.0)
    assert stats_of(result, ASSIGNMENT, "t1", ALL) == {"avg": 400.0, "p50": 300.0, "p90": 900.0, "max": 900.0}
    assert stats_of(result, ASSIGNMENT) == stats_of(result, ASSIGNMENT, "t1", ALL)
    for rep in ("r1", "r3", "r4", "r5", "r6"):
        assert val(result, ASSIGNMENT, "t1", rep, stat="avg") is None
    assert not any(labels_team == "t9" for _name, labels in result for label, labels_team in labels if label == "team")
    assert val(result, WALL, stat="max") == 11 * 3600 + 15 * 60  # L6's response, unchanged


# ------------------------------------------------------------------------------ oldest awaiting lead


def test_oldest_awaiting_business_age_on_its_own_teams_clock() -> None:
    now = MONDAY_NOW  # Monday 10:00 in New York
    events = [
        calendar(SETUP),
        lead("A", ny(FRIDAY, "16:58")),  # t1's oldest: 2 min Friday + 1 h Monday
        lead("B", ny(MONDAY, "09:30")),
        lead("C", datetime(2026, 11, 16, 11, 0, tzinfo=UTC), team="t2"),  # no calendar: 4 h
        lead("D", ny(FRIDAY, "08:00"), team="t3"),
        contact("D", ny(FRIDAY, "08:30"), team="t3"),  # contacted: t3 has none waiting
        lead("E", now + timedelta(seconds=60), team="t4"),  # stamped a minute ahead: 0
    ]
    result = compute(events, now=now)

    def live(name: str, team: str) -> Any:
        return result.get(key(name, team=team))

    assert live(OLDEST_BUSINESS, "t1") == 3720.0
    assert live(OLDEST, "t1") == 65 * 3600 + 2 * 60  # Friday 21:58 -> Monday 15:00 UTC
    assert live(OLDEST_BUSINESS, "t2") == live(OLDEST, "t2") == 14_400.0
    assert live(OLDEST_BUSINESS, "t3") == 0.0
    assert live(OLDEST_BUSINESS, "t4") == 0.0
    # the floor's oldest lead is A (created first), on t1's clock, though C has waited longer in business time
    assert live(OLDEST_BUSINESS, ALL) == 3720.0
    assert live(OLDEST, ALL) == live(OLDEST, "t1")
    assert compute([], now=now)[key(OLDEST_BUSINESS, team=ALL)] == 0.0
    assert not any(name == OLDEST_BUSINESS for name, _ in compute(events, now=now, day=MONDAY))


# ------------------------------------------------------------------------------------ no calendar


def test_without_calendars_business_time_is_wall_time() -> None:
    start = datetime(2026, 11, 20, 0, 0, tzinfo=UTC)
    now = start + timedelta(hours=30)
    config = FloorConfig(seed=5, teams=2, reps_per_team=3, start=start, end=now, tz="UTC", calendars=False)
    events = list(generate(config))
    result = compute(events, now=now)
    walls = {labels: value for (name, labels), value in result.items() if name == WALL}
    assert len(walls) > 20
    assert {labels: value for (name, labels), value in result.items() if name == BUSINESS} == walls
    for name, labels in result:
        if name == OLDEST:
            assert result[(OLDEST_BUSINESS, labels)] == result[(name, labels)]

    # a calendar open around the clock (from before everything) changes no series but adds none either
    team = events[-1]["team_id"]
    open_all = calendar(start - timedelta(days=1), EVERY_HOUR, tz="UTC", team=team)
    assert compute([open_all, *events], now=now) == result


# ------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    "change",
    [
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "america/new_york"},
        {"timezone": ""},
        {"timezone": 5},
        {"hours": [["09:00", "17:00"]]},
        {"hours": {"monday": [["09:00", "17:00"]]}},
        {"hours": {"mon": ["09:00", "17:00"]}},
        {"hours": {"mon": [["9:00", "17:00"]]}},
        {"hours": {"mon": [["09:00", "25:00"]]}},
        {"hours": {"mon": [["09:60", "17:00"]]}},
        {"hours": {"mon": [["24:00", "17:00"]]}},
        {"hours": {"mon": [["09:00", "17:00", "18:00"]]}},
        {"hours": {"mon": [["09:00", 17]]}},
        {"timezone": "localtime"},
        {"timezone": "posixrules"},
        {"holidays": ["2026-02-30"]},
        {"holidays": ["2026-11-16T00:00"]},
        {"holidays": "2026-11-16"},
        {"rep_id": "r1"},
        {"timezone": None},
        {"hours": None},
    ],
)
def test_an_invalid_calendar_is_rejected_and_changes_nothing(change: dict[str, Any]) -> None:
    bad = calendar(SETUP, EVERY_HOUR, eid="cal-1") | change
    base = [lead("L", ny(FRIDAY, "16:58")), contact("L", ny(MONDAY, "09:03"))]
    assert compute([bad, *base], now=MONDAY_NOW) == compute(base, now=MONDAY_NOW)
    with pytest.raises(ValueError):
        parse_calendar(bad)
    # the rejected event leaves its event_id unseen: a valid one with the same id is accepted
    good = calendar(SETUP, eid="cal-1")
    assert val(compute([bad, good, *base], now=MONDAY_NOW), BUSINESS, stat="max") == 300.0


def test_valid_variations_of_a_calendar() -> None:
    parsed = parse_calendar({"timezone": "UTC", "hours": {"sun": [], "mon": None}, "holidays": None, "rep_id": None})
    assert parsed.hours == ((),) * 7 and parsed.holidays == frozenset()
    parsed = parse_calendar({"timezone": "Europe/Warsaw", "hours": {"tue": [["22:30", "24:00"], ["08:00", "08:00"]]}})
    assert parsed.hours[1] == ((22 * 60 + 30, 24 * 60), (8 * 60, 8 * 60))


# --------------------------------------------------------------------- against a minute-by-minute walk

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Ranges = dict[int, list[tuple[int, int]]]  # weekday -> (start, end) minutes of the day


def _open_by_definition(ranges: Ranges, holidays: set[date], local: datetime) -> bool:
    """The contract read literally: the wall time lies in a range of its day, or in the part past
    midnight of a range of the day before; a holiday closes its date and its ranges past midnight."""
    day, minute = local.date(), local.hour * 60 + local.minute
    if day in holidays:
        return False
    if any(minute >= start and (end <= start or minute < end) for start, end in ranges.get(day.weekday(), [])):
        return True
    before = day - timedelta(days=1)
    past_midnight = [end for start, end in ranges.get(before.weekday(), []) if end <= start]
    return before not in holidays and any(minute < end for end in past_midnight)


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _random_calendar(rng: random.Random, near: date) -> tuple[dict[str, Any], Ranges, set[date]]:
    """A calendar.set's fields and the same calendar for the walk. No boundary lies in 01:00-02:00,
    the hour New York repeats on 2026-11-01 (there the contract's first occurrence is a choice that
    a walk over wall times would not make)."""
    boundaries = [m for m in range(0, 24 * 60, 15) if m // 60 != 1]
    ranges: Ranges = {}
    for weekday in rng.sample(range(7), rng.randint(1, 7)):
        ranges[weekday] = [(start, rng.choice([*boundaries, 24 * 60])) for start in rng.sample(boundaries, 2)]
    holidays = {near + timedelta(days=rng.randint(-2, 2)) for _ in range(rng.randint(0, 2))}
    hours = {DAY_NAMES[d]: [[_clock(a), _clock(b)] for a, b in pairs] for d, pairs in ranges.items()}
    fields = {"timezone": "America/New_York", "hours": hours, "holidays": sorted(map(str, holidays))}
    return fields, ranges, holidays


Change = tuple[int, dict[str, Any], Ranges, set[date]]  # (minute stamped, fields, walk's view)


def _walk(begin: datetime, minutes: int, changes: list[Change]) -> int:
    """Business minutes of the span classified one by one in the calendar in force at each."""
    count = 0
    for i in range(minutes):
        in_force = [change for change in changes if change[0] <= i]
        if not in_force:
            count += 1
            continue
        _stamp, _fields, ranges, holidays = in_force[-1]
        count += int(_open_by_definition(ranges, holidays, (begin + timedelta(minutes=i)).astimezone(NY)))
    return count


def test_business_time_matches_a_minute_walk_across_dst() -> None:
    """Random calendars, changing at random minutes (before the first: the wall clock), over spans
    around both 2026 DST changes: the exact computation equals a walk classifying every minute."""
    rng, partial = random.Random(11), 0
    for case in range(40):
        near = (SPRING_SUNDAY, FALL_SUNDAY)[case % 2]
        begin = datetime.combine(near - timedelta(days=2), datetime.min.time(), tzinfo=UTC)
        begin += timedelta(minutes=rng.randrange(2 * 24 * 60))
        minutes = rng.randrange(3 * 24 * 60)
        changes = sorted(
            ((rng.randrange(-60, minutes + 60), *_random_calendar(rng, near)) for _ in range(rng.randint(1, 3))),
            key=lambda change: change[0],
        )

        walk = _walk(begin, minutes, changes)
        timeline = [(to_us(begin + timedelta(minutes=at)), parse_calendar(fields)) for at, fields, _r, _h in changes]
        span = to_us(begin), to_us(begin + timedelta(minutes=minutes))
        assert business_us(timeline, *span) == walk * 60_000_000, (case, changes)
        partial += 0 < walk < minutes
    assert partial >= 30  # most spans are neither all open nor all closed

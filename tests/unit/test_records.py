"""The decoder: every rejection reason of SPEC §2, valid events round-trip, nothing else ever escapes."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.errors import InvalidEvent
from streams.records import (
    CalendarSet,
    CallCompleted,
    DealEvent,
    EmailEvent,
    LeadCreated,
    TargetSet,
    decode_event,
    event_type,
)

BASE = {"event_id": "ev-1", "occurred_at": "2026-11-22T09:15:03.120Z", "team_id": "north"}
VALID: dict[str, dict[str, Any]] = {
    "lead.created": {"lead_id": "L1", "rep_id": "r1", "source": "inbound_web"},
    "lead.assigned": {"lead_id": "L1", "rep_id": "r2"},
    "lead.disqualified": {"lead_id": "L1", "reason": "spam"},
    "call.completed": {
        "call_id": "C1",
        "rep_id": "r1",
        "direction": "outbound",
        "outcome": "connected",
        "duration_s": 75.5,
        "lead_id": "L1",
    },
    "email.sent": {"email_id": "E1", "rep_id": "r1", "lead_id": "L1"},
    "email.opened": {"email_id": "E1"},
    "email.clicked": {"email_id": "E1", "rep_id": None},
    "email.replied": {"email_id": "E1", "lead_id": "L1"},
    "deal.created": {"deal_id": "D1", "rep_id": "r1", "amount": 1200, "lead_id": "L1", "currency": "EUR"},
    "deal.won": {"deal_id": "D1", "rep_id": "r1", "amount": 1200.5},
    "deal.lost": {"deal_id": "D1", "rep_id": "r1"},
    "target.set": {"period": "2026-11", "metric": "won_amount", "value": 50000},
    "calendar.set": {
        "timezone": "Europe/Warsaw",
        "hours": {"mon": [["09:00", "17:00"]], "fri": [["22:00", "06:00"]]},
        "holidays": ["2026-12-24"],
    },
}


def event(kind: str, **changes: Any) -> dict[str, Any]:
    out = {**BASE, "type": kind, **VALID[kind], **changes}
    return {k: v for k, v in out.items() if v is not ...}


def reject(value: Any, raw: bytes | None = None) -> InvalidEvent:
    with pytest.raises(InvalidEvent) as info:
        decode_event(raw if raw is not None else orjson.dumps(value))
    return info.value


@pytest.mark.parametrize("kind", sorted(VALID))
def test_every_type_decodes_to_its_record(kind: str) -> None:
    record = decode_event(orjson.dumps(event(kind)))
    assert event_type(record) == kind
    assert record.event_id == "ev-1" and record.team_id == "north"
    assert record.at_us == 1795338903120000


def test_typed_fields() -> None:
    call = decode_event(orjson.dumps(event("call.completed")))
    assert isinstance(call, CallCompleted) and call.duration_s == 75.5 and call.lead_id == "L1"
    deal = decode_event(orjson.dumps(event("deal.won")))
    assert isinstance(deal, DealEvent) and deal.amount == 1200.5 and deal.lead_id is None
    email = decode_event(orjson.dumps(event("email.opened")))
    assert isinstance(email, EmailEvent) and email.rep_id is None
    lead = decode_event(orjson.dumps(event("lead.created")))
    assert isinstance(lead, LeadCreated) and lead.source == "inbound_web"
    target = decode_event(orjson.dumps(event("target.set")))
    assert isinstance(target, TargetSet) and target.value == 50000 and target.rep_id is None


@pytest.mark.parametrize(
    ("stamp", "at_us"),
    [
        ("2026-11-22T10:15:03.120+01:00", 1795338903120000),
        ("2026-11-22T09:15:03Z", 1795338903000000),
        ("2026-11-22t09:15:03.123456789z", 1795338903123456),
        ("2026-11-22 04:15:03.1-05:00", 1795338903100000),
    ],
)
def test_timestamps_with_offsets(stamp: str, at_us: int) -> None:
    assert decode_event(orjson.dumps(event("lead.created", occurred_at=stamp))).at_us == at_us


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (event("lead.created", lead_id=...), "missing_field"),
        (event("lead.created", occurred_at=...), "missing_field"),
        (event("call.completed", rep_id=None), "missing_field"),
        (event("deal.won", amount=...), "missing_field"),
        (event("target.set", period=...), "missing_field"),
        (event("lead.created", lead_id=7), "wrong_type"),
        (event("call.completed", duration_s="60"), "wrong_type"),
        (event("call.completed", duration_s=True), "wrong_type"),
        (event("deal.won", amount="NaN"), "wrong_type"),
        (event("lead.created", occurred_at=1795338903), "wrong_type"),
        (event("lead.created", type="lead.deleted"), "unknown_type"),
        (event("lead.created", type=None), "missing_field"),
        (event("lead.created", occurred_at="2026-11-22T09:15:03"), "bad_timestamp"),
        (event("lead.created", occurred_at="2026-11-22"), "bad_timestamp"),
        (event("lead.created", occurred_at="2026-02-30T09:15:03Z"), "bad_timestamp"),
        (event("lead.created", occurred_at="yesterday"), "bad_timestamp"),
        (event("call.completed", duration_s=86401), "out_of_range"),
        (event("call.completed", duration_s=-1), "out_of_range"),
        (event("deal.created", amount=-0.01), "out_of_range"),
        (event("deal.created", amount=1e12), "out_of_range"),
        (event("target.set", value=1e13), "out_of_range"),
        (event("lead.created", lead_id="_all"), "bad_id"),
        (event("lead.created", team_id="north\x00"), "bad_id"),
        (event("lead.created", rep_id="r\u0085"), "bad_id"),
        (event("lead.created", event_id=""), "bad_id"),
        (event("lead.created", event_id="e" * 129), "bad_id"),
        (event("lead.created", team_id="t" * 65), "bad_id"),
        (event("call.completed", direction="sideways"), "bad_value"),
        (event("call.completed", outcome="maybe"), "bad_value"),
        (event("lead.created", source="billboard"), "bad_value"),
        (event("target.set", period="2026-13"), "bad_value"),
        (event("target.set", metric="calls"), "bad_value"),
        (event("deal.created", currency="USD"), "wrong_currency"),
        (event("lead.disqualified", reason="x" * 5000), "out_of_range"),
    ],
)
def test_each_rejection_reason(value: dict[str, Any], reason: str) -> None:
    error = reject(value)
    assert error.reason == reason
    assert str(error)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "invalid_json"),
        (b"{not json", "invalid_json"),
        (b"\xff\xfe\x00garbage", "invalid_json"),
        (b'{"event_id": NaN}', "invalid_json"),
        (b'{"amount": Infinity}', "invalid_json"),
        (b"[" * 5000 + b"]" * 5000, "invalid_json"),
        (b"[1, 2]", "not_an_object"),
        (b"42", "not_an_object"),
        (b"null", "not_an_object"),
    ],
)
def test_malformed_bytes(raw: bytes, reason: str) -> None:
    assert reject(None, raw).reason == reason


@pytest.mark.parametrize("ident", ["rep\u00a0nord", "rep\u2028x", "r\u200be", "łódź-ünïcode", "a b"])
def test_ids_with_unprintable_but_not_control_characters_are_accepted(ident: str) -> None:
    """Only control characters (Unicode Cc) make an id bad; `str.isprintable` is just the fast accept."""
    assert decode_event(orjson.dumps(event("lead.created", rep_id=ident))).rep_id == ident


def test_unknown_extra_fields_are_ignored() -> None:
    record = decode_event(orjson.dumps(event("lead.created", extra={"nested": [1, 2]}, colour="red")))
    assert isinstance(record, LeadCreated)


def test_configured_currency() -> None:
    value = orjson.dumps(event("deal.created", currency="USD"))
    assert decode_event(value, currency="USD").amount == 1200  # type: ignore[attr-defined]
    with pytest.raises(InvalidEvent):
        decode_event(value, currency="EUR")


ids = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1, max_size=64).filter(
    lambda s: not s.startswith("_")
)
stamps = st.datetimes(
    min_value=datetime(1971, 1, 1),  # noqa: DTZ001 - hypothesis takes naive bounds with `timezones`
    max_value=datetime(9000, 1, 1),  # noqa: DTZ001 - as above
    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=-5, minutes=-30))]),
)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(sorted(VALID)),
    event_id=ids,
    team=ids,
    stamp=stamps,
    amount=st.floats(min_value=0, max_value=1e12, exclude_max=True),
)
def test_valid_events_round_trip(kind: str, event_id: str, team: str, stamp: Any, amount: float) -> None:
    value = event(kind, event_id=event_id, team_id=team, occurred_at=stamp.isoformat())
    if "amount" in value:
        value["amount"] = amount
    record = decode_event(orjson.dumps(value))
    assert event_type(record) == kind
    assert (record.event_id, record.team_id) == (event_id, team)
    assert record.occurred_at == stamp
    again = decode_event(orjson.dumps(value))
    assert again == record


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=6),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(raw=st.binary(max_size=300))
def test_no_bytes_raise_anything_but_invalid_event(raw: bytes) -> None:
    try:
        decode_event(raw)
    except InvalidEvent as exc:
        assert exc.reason
    # a valid event from random bytes is allowed, if unlikely


@settings(max_examples=500, deadline=None)
@given(
    kind=st.sampled_from(sorted(VALID)),
    field=st.sampled_from(
        [
            "event_id",
            "type",
            "occurred_at",
            "team_id",
            "rep_id",
            "lead_id",
            "amount",
            "duration_s",
            "period",
            "value",
            "direction",
            "outcome",
            "currency",
            "email_id",
            "deal_id",
            "call_id",
            "metric",
            "source",
            "timezone",
            "hours",
            "holidays",
        ]
    ),
    junk=json_values,
)
def test_any_field_replaced_by_any_json_never_escapes(kind: str, field: str, junk: Any) -> None:
    value = event(kind)
    value[field] = junk
    try:
        decode_event(json.dumps(value).encode())  # the standard library also writes integers past 64 bits
    except InvalidEvent as exc:
        assert exc.reason in {
            "invalid_json",
            "not_an_object",
            "missing_field",
            "wrong_type",
            "unknown_type",
            "bad_timestamp",
            "out_of_range",
            "bad_id",
            "bad_value",
            "wrong_currency",
        }


NEW_BASE = {"event_id": "e1", "occurred_at": "2026-11-30T10:00:00Z", "team_id": "t", "rep_id": "r"}


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"type": "meeting.scheduled", "meeting_id": "m1", "scheduled_for": "2026-12-01T10:00:00+01:00"}, None),
        ({"type": "meeting.scheduled", "meeting_id": "m1"}, "missing_field"),
        ({"type": "meeting.scheduled", "meeting_id": "m1", "scheduled_for": "2026-12-01T10:00:00"}, "bad_timestamp"),
        (
            {"type": "meeting.completed", "meeting_id": "m1", "outcome": "held", "lead_id": "l1", "duration_s": 1800},
            None,
        ),
        ({"type": "meeting.completed", "meeting_id": "m1", "outcome": "rescheduled"}, "bad_value"),
        ({"type": "meeting.completed", "meeting_id": "m1", "outcome": "held", "rep_id": None}, "missing_field"),
        ({"type": "deal.stage_changed", "deal_id": "d1", "stage": "proposal"}, None),
        ({"type": "deal.stage_changed", "deal_id": "d1", "stage": "won"}, "bad_value"),
        ({"type": "deal.stage_changed", "deal_id": "d1"}, "missing_field"),
        ({"type": "email.unsubscribed", "email_id": "m1", "rep_id": None}, None),
        ({"type": "target.set", "period": "2026-11-30", "metric": "calls_outbound", "value": 40}, None),
        ({"type": "target.set", "period": "2026-11", "metric": "leads_responded", "value": 40}, None),
        ({"type": "target.set", "period": "2026-02-30", "metric": "calls_outbound", "value": 40}, "bad_value"),
        ({"type": "target.set", "period": "2026-11-1", "metric": "calls_outbound", "value": 40}, "bad_value"),
        ({"type": "target.set", "period": "2026-11", "metric": "talk_time", "value": 40}, "bad_value"),
    ],
)
def test_this_rounds_event_types(fields: dict[str, object], reason: str | None) -> None:
    raw = orjson.dumps({**NEW_BASE, **fields})
    if reason is None:
        assert decode_event(raw).event_id == "e1"
    else:
        with pytest.raises(InvalidEvent) as caught:
            decode_event(raw)
        assert caught.value.reason == reason


def test_configured_stages_and_future_events() -> None:
    moved = orjson.dumps({**NEW_BASE, "type": "deal.stage_changed", "deal_id": "d1", "stage": "demo"})
    assert decode_event(moved, stages=("demo", "contract")).event_id == "e1"
    with pytest.raises(InvalidEvent, match="stage must be one of"):
        decode_event(moved)
    created = orjson.dumps({**NEW_BASE, "type": "lead.created", "lead_id": "l1"})
    at_us = decode_event(created).at_us
    assert decode_event(created, latest_us=at_us).at_us == at_us
    with pytest.raises(InvalidEvent) as caught:
        decode_event(created, latest_us=at_us - 1)
    assert caught.value.reason == "future"


CALENDAR = {"event_id": "c1", "type": "calendar.set", "occurred_at": "2026-11-30T10:00:00Z", "team_id": "north"}
WEEKDAYS = {day: [["09:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}


def calendar(**changes: Any) -> bytes:
    value = {**CALENDAR, "timezone": "America/New_York", "hours": WEEKDAYS, **changes}
    return json.dumps({k: v for k, v in value.items() if v is not ...}).encode()  # also integers past 64 bits


def test_calendar_set_decodes_to_minutes_and_dates() -> None:
    hours = {
        "mon": [["09:00", "12:00"], ["13:00", "17:30"], ["09:00", "12:00"]],  # a repeat is dropped
        "tue": [["22:00", "06:00"]],  # end not after start: runs past midnight
        "wed": [["09:00", "09:00"]],  # equal: 24 h, to 09:00 on thu
        "thu": [["00:00", "24:00"], ["10:00", "11:00"]],  # overlapping ranges are kept as given
        "fri": [],
        "sat": None,
    }
    record = decode_event(calendar(hours=hours, holidays=["2026-12-25", "2027-01-01", "2026-12-25"]))
    assert isinstance(record, CalendarSet) and event_type(record) == "calendar.set"
    assert record.timezone == "America/New_York" and record.rep_id is None
    assert record.hours == (
        ((540, 720), (780, 1050)),
        ((1320, 1800),),
        ((540, 1980),),
        ((0, 1440), (600, 660)),
        (),
        (),
        (),
    )
    assert record.holidays == frozenset({date(2026, 12, 25), date(2027, 1, 1)})
    assert hash(record.hours) == hash(decode_event(calendar(hours=hours)).hours)
    assert decode_event(calendar(holidays=None)).holidays == frozenset()  # type: ignore[attr-defined]
    assert decode_event(calendar(hours={})).hours == ((),) * 7  # type: ignore[attr-defined]  # never open
    assert decode_event(calendar(rep_id=None)).rep_id is None


@pytest.mark.parametrize(
    ("changes", "reason", "says"),
    [
        ({"timezone": ...}, "missing_field", "timezone"),
        ({"timezone": 1}, "wrong_type", "timezone must be a string"),
        ({"timezone": "Mars/Olympus_Mons"}, "bad_value", "IANA time zone"),
        ({"timezone": "america/new_york"}, "bad_value", "IANA time zone"),
        ({"timezone": "America"}, "bad_value", "IANA time zone"),  # a directory of the database
        ({"timezone": "localtime"}, "bad_value", "IANA time zone"),  # the host's own zone, not IANA's
        ({"timezone": "posix/Europe/Warsaw"}, "bad_value", "IANA time zone"),
        ({"timezone": "../../etc/passwd"}, "bad_value", "IANA time zone"),
        ({"timezone": ""}, "bad_value", "IANA time zone"),
        ({"hours": ...}, "missing_field", "hours"),
        ({"hours": [["09:00", "17:00"]]}, "wrong_type", "hours must be an object"),
        ({"hours": {"monday": [["09:00", "17:00"]]}}, "bad_value", "unknown day 'monday'"),
        ({"hours": {"Mon": [["09:00", "17:00"]]}}, "bad_value", "unknown day 'Mon'"),
        ({"hours": {"mon": "09:00-17:00"}}, "wrong_type", "hours.mon must be a list"),
        ({"hours": {"mon": ["09:00", "17:00"]}}, "wrong_type", "hours.mon[0] must be a list"),
        ({"hours": {"mon": [["09:00"]]}}, "bad_value", "hours.mon[0] must be a pair"),
        ({"hours": {"mon": [["09:00", "12:00", "17:00"]]}}, "bad_value", "must be a pair"),
        ({"hours": {"mon": [[900, "17:00"]]}}, "wrong_type", "hours.mon[0][0] must be a string"),
        ({"hours": {"mon": [["09:00", None]]}}, "wrong_type", "hours.mon[0][1] must be a string"),
        ({"hours": {"tue": [["9:00", "17:00"]]}}, "bad_value", "hours.tue[0][0] must be a local time"),
        ({"hours": {"tue": [["09:00", "17:60"]]}}, "bad_value", "hours.tue[0][1]"),
        ({"hours": {"tue": [["09:00", "24:01"]]}}, "bad_value", "hours.tue[0][1]"),
        ({"hours": {"tue": [["09:00", "25:00"]]}}, "bad_value", "hours.tue[0][1]"),
        ({"hours": {"tue": [["09:00", "17:00:00"]]}}, "bad_value", "hours.tue[0][1]"),
        ({"hours": {"tue": [["09:00", " 17:00"]]}}, "bad_value", "hours.tue[0][1]"),
        ({"hours": {"tue": [["24:00", "06:00"]]}}, "bad_value", "'24:00' is allowed only as the end"),
        ({"hours": {"sun": [["09:00", "10:00"]] * 49}}, "out_of_range", "at most 48"),
        ({"holidays": "2026-12-25"}, "wrong_type", "holidays must be a list"),
        ({"holidays": [20261225]}, "wrong_type", "holidays[0] must be a string"),
        ({"holidays": ["2026-12-25", "2026-02-30"]}, "bad_value", "holidays[1] '2026-02-30' is not a real date"),
        ({"holidays": ["20261225"]}, "bad_value", "holidays[0] must be a date"),  # fromisoformat would take it
        ({"holidays": ["2026-W52-5"]}, "bad_value", "holidays[0] must be a date"),
        ({"holidays": ["2026-12-25T00:00"]}, "bad_value", "holidays[0] must be a date"),
        ({"holidays": ["2026-01-01"] * 1001}, "out_of_range", "at most 1000"),
        ({"rep_id": "r1"}, "bad_value", "rep_id must be absent"),
        ({"rep_id": "_all"}, "bad_value", "rep_id must be absent"),
        ({"rep_id": 7}, "bad_value", "rep_id must be absent"),
        ({"team_id": ...}, "missing_field", "team_id"),
    ],
)
def test_calendar_set_rejections(changes: dict[str, Any], reason: str, says: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(calendar(**changes))
    assert caught.value.reason == reason
    assert says in str(caught.value)


clock_texts = st.one_of(
    st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 25), st.integers(0, 61)),
    st.sampled_from(["24:00", "9:00", "", "12:00:00"]),
    st.integers(0, 2400),
    st.none(),
)
hours_values = st.one_of(
    st.dictionaries(
        st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun", "Mon", "holiday"]),
        st.one_of(st.none(), st.text(max_size=5), st.lists(st.lists(clock_texts, max_size=3), max_size=4)),
        max_size=8,
    ),
    json_values,
)


@settings(max_examples=400, deadline=None)
@given(hours=hours_values, holidays=json_values | st.lists(st.dates().map(date.isoformat), max_size=3))
def test_any_hours_and_holidays_decode_well_formed_or_reject(hours: Any, holidays: Any) -> None:
    try:
        record = decode_event(calendar(hours=hours, holidays=holidays))
    except InvalidEvent as exc:
        assert exc.reason in {"missing_field", "wrong_type", "bad_value", "out_of_range"}
        return
    assert isinstance(record, CalendarSet) and len(record.hours) == 7
    for ranges in record.hours:
        assert list(ranges) == sorted(set(ranges))
        assert all(0 <= start < 1440 and start < end <= start + 1440 for start, end in ranges)
    assert all(isinstance(day, date) for day in record.holidays)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [  # Python's \d matches other scripts' digits, and int() reads them: the contract's formats are ASCII
        (
            {"type": "target.set", "period": "\u0662\u0660\u0662\u0666-11", "metric": "calls_outbound", "value": 4},
            "bad_value",
        ),
        (
            {"type": "lead.created", "lead_id": "l1", "occurred_at": "\u0662\u0660\u0662\u0666-11-30T10:00:00Z"},
            "bad_timestamp",
        ),
        ({"type": "lead.created", "lead_id": "l1", "occurred_at": "2026-11-30T1\u0660:00:00Z"}, "bad_timestamp"),
    ],
)
def test_digits_of_other_scripts_are_rejected(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(InvalidEvent) as caught:
        decode_event(orjson.dumps({**NEW_BASE, **fields}))
    assert caught.value.reason == reason


def test_calendar_digits_of_other_scripts_are_rejected() -> None:
    with pytest.raises(InvalidEvent, match="HH:MM"):
        decode_event(calendar(hours={"mon": [["0\u0669:00", "17:00"]]}))
    with pytest.raises(InvalidEvent, match="holidays"):
        decode_event(calendar(holidays=["2026-12-2\u0665"]))

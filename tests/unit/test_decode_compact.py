"""Ingest's fast decoder against the contract's: for any message, `decode_compact` returns exactly
`compact(decode_event(...))` (the same fields in the same order) or raises the same rejection."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.entities import decode
from agents.entities.decode import decode_compact
from agents.entities.state import compact
from streams.errors import InvalidEvent
from streams.records import decode_event
from streams.sim.config import FloorConfig
from streams.sim.malformed import MALFORMED_KINDS, malformed_value
from streams.sim.simulator import generate
from tests.unit.test_records import BASE, VALID, event

STAGES = ("qualification", "proposal", "negotiation")
MORE: dict[str, dict[str, Any]] = {  # the types test_records' VALID leaves out
    "meeting.scheduled": {"meeting_id": "m1", "rep_id": "r1", "scheduled_for": "2026-12-01T10:00:00.5Z"},
    "meeting.completed": {"meeting_id": "m1", "rep_id": "r1", "outcome": "held", "lead_id": "L1", "duration_s": 1800},
    "deal.stage_changed": {"deal_id": "D1", "rep_id": "r1", "stage": "proposal", "amount": 10},
    "email.unsubscribed": {"email_id": "E1", "lead_id": "L1"},
}
KINDS = {**VALID, **MORE}


def outcome(raw: bytes, *, fast: bool, currency: str = "EUR", latest_us: int | None = None) -> tuple[Any, ...]:
    try:
        if fast:
            out = decode_compact(raw, currency=currency, stages=STAGES, latest_us=latest_us)
        else:
            out = compact(decode_event(raw, currency=currency, stages=STAGES, latest_us=latest_us))
    except InvalidEvent as exc:
        return "rejected", exc.reason, str(exc)
    return "decoded", orjson.dumps(out)  # the bytes: the same keys in the same order


def assert_same(raw: bytes, **kwargs: Any) -> tuple[Any, ...]:
    expected = outcome(raw, fast=False, **kwargs)
    assert outcome(raw, fast=True, **kwargs) == expected, raw
    return expected


def of_kind(kind: str, **changes: Any) -> dict[str, Any]:
    """test_records' `event`, for its types and the ones it leaves out (`MORE`)."""
    out = {**BASE, "type": kind, **KINDS[kind], **changes}
    return {k: v for k, v in out.items() if v is not ...}


def test_a_simulated_floor_and_its_malformed_twins() -> None:
    start = datetime(2026, 11, 23, 8, tzinfo=timezone.utc)
    events = list(generate(FloorConfig(start=start, end=start + timedelta(hours=10), teams=2, reps_per_team=4)))
    assert len({e["type"] for e in events}) >= 12
    rng = random.Random(7)
    decoded = rejected = 0
    for value in events:
        decoded += assert_same(orjson.dumps(value))[0] == "decoded"
        for kind in rng.sample(sorted(MALFORMED_KINDS), 3):
            raw, _ = malformed_value(rng, value, kind)
            rejected += (
                assert_same(raw, latest_us=int(datetime.now(timezone.utc).timestamp() * 1e6) + 300_000_000)[0]
                == "rejected"
            )
    assert decoded == len(events)
    assert rejected > len(events)


@pytest.mark.parametrize("kind", sorted(set(KINDS) - {"calendar.set"}))
def test_every_common_shape_takes_the_fast_path(kind: str) -> None:
    """Without this the comparisons above would hold for a decoder that always falls back."""
    value = of_kind(kind)
    fast = decode._accept(value, "EUR", STAGES)  # noqa: SLF001 - the path under test
    assert fast is not None
    assert orjson.dumps(fast) == orjson.dumps(compact(decode_event(orjson.dumps(value), stages=STAGES)))


@pytest.mark.parametrize(
    "stamp",
    [
        "2026-11-22T09:15:03Z",
        "2026-11-22T09:15:03.1234567Z",
        "2026-11-22t09:15:03Z",
        "2026-11-22 09:15:03z",
        "2026-11-22T09:15:03+01:00",
        "2026-02-29T09:15:03Z",
        "2028-02-29T23:59:59.999999999Z",
        "2026-11-22T24:00:00Z",
        "2026-11-22T23:60:00Z",
        "2026-11-22T23:59:60Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
        "9999-01-01T00:00:00Z",
        "\u0662\u0660\u0662\u0666-11-22T09:15:03Z",
        "2026-11-22T0\u0669:15:03Z",
        "2026-11-22T09:15:03.\u0661Z",
        "2026-11-22T09:15:03.Z",
        "2026-11-22T09:15:03Z\n",
    ],
)
def test_timestamps(stamp: str) -> None:
    assert_same(orjson.dumps(of_kind("lead.created", occurred_at=stamp)))
    assert_same(orjson.dumps(of_kind("meeting.scheduled", scheduled_for=stamp)))


def test_currency_stages_and_future() -> None:
    deal = orjson.dumps(of_kind("deal.won", currency="USD"))
    assert assert_same(deal)[1] == "wrong_currency"
    assert assert_same(deal, currency="USD")[0] == "decoded"
    assert assert_same(orjson.dumps(of_kind("deal.stage_changed", stage="demo")))[1] == "bad_value"
    lead = orjson.dumps(of_kind("lead.created"))
    at_us = decode_event(lead).at_us
    assert assert_same(lead, latest_us=at_us)[0] == "decoded"
    assert assert_same(lead, latest_us=at_us - 1)[1] == "future"


FIELDS = sorted({name for kind in KINDS.values() for name in kind} | {"event_id", "type", "occurred_at", "team_id"})
tricky_text = st.sampled_from(
    [
        "",
        "_x",
        "a\x00b",
        "a\x85b",
        "rep\u00a0nord",
        "\u2028",
        "x" * 64,
        "x" * 65,
        "x" * 128,
        "x" * 129,
        "x" * 1025,
        "lead.created",
        "lead.nothing",
        "inbound_web",
        "outbound",
        "connected",
        "held",
        "proposal",
        "EUR",
        "USD",
        "won_amount",
        "2026-11",
        "2026-02-30",
        "2026-11-1",
        "\u0662\u0660\u0662\u0666-11",
        "2026-11-22T09:15:03Z",
    ]
)
tricky_numbers = st.sampled_from([0, -0.0, -1, 0.5, 86400, 86400.0, 86400.5, 1e12, 1e12 - 1, 2**64, True, False])
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=1500, deadline=None)
@given(
    kind=st.sampled_from(sorted(KINDS)),
    changes=st.dictionaries(
        st.sampled_from(FIELDS), st.just(...) | tricky_text | tricky_numbers | json_values, max_size=3
    ),
)
def test_any_change_to_any_field(kind: str, changes: dict[str, Any]) -> None:
    assert_same(json.dumps(of_kind(kind, **changes)).encode())  # json: also integers past 64 bits


def test_test_records_base_events_too() -> None:
    for kind in VALID:
        assert assert_same(orjson.dumps(event(kind)))[0] == "decoded"

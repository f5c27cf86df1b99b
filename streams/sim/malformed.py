"""The malformed kinds of message SPEC §2 rejects, each modelled on a valid event (apart from the delivery
distortions in streams.sim.distort, which mix them into a stream)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, Final

import orjson

EventDict = dict[str, Any]

COMMON_REQUIRED: Final = ("event_id", "type", "occurred_at", "team_id")
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "lead.created": ("lead_id",),
    "lead.assigned": ("lead_id", "rep_id"),
    "lead.disqualified": ("lead_id",),
    "call.completed": ("call_id", "rep_id", "direction", "outcome", "duration_s"),
    "email.sent": ("email_id", "rep_id"),
    "email.opened": ("email_id",),
    "email.clicked": ("email_id",),
    "email.replied": ("email_id",),
    "email.unsubscribed": ("email_id",),
    "deal.created": ("deal_id", "rep_id", "amount"),
    "deal.won": ("deal_id", "rep_id", "amount"),
    "deal.lost": ("deal_id", "rep_id"),
    "deal.stage_changed": ("deal_id", "rep_id", "stage"),
    "meeting.scheduled": ("meeting_id", "rep_id", "scheduled_for"),
    "meeting.completed": ("meeting_id", "rep_id", "outcome"),
    "target.set": ("period", "metric", "value"),
    "calendar.set": ("timezone", "hours"),
}
NUMBER_FIELDS: Final = frozenset({"amount", "duration_s", "value"})
ID_LIMITS: Final = {"event_id": 128, "team_id": 64, "rep_id": 64}


def _uuid(rng: random.Random) -> str:
    bits = (rng.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62)) | (0x4 << 76) | (0x2 << 62)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def copy_event(event: EventDict, rng: random.Random, **changes: Any) -> EventDict:
    """A copy of an event with a fresh event_id, so a rejected variant can never shadow the original."""
    out = dict(event)
    out["event_id"] = _uuid(rng)
    out.update(changes)
    return out


def _of_type(kind: str, base: EventDict, rng: random.Random, currency: str) -> EventDict:
    """A valid event of `kind` on the base event's team, rep and time, to be broken in one place."""
    event: EventDict = {
        "event_id": _uuid(rng),
        "type": kind,
        "occurred_at": base["occurred_at"],
        "team_id": base["team_id"],
        "rep_id": base.get("rep_id") or "rep-sim-01",
    }
    if kind.startswith("deal."):
        event.update(deal_id=f"deal-x{rng.getrandbits(32):08x}", amount=1250.0, currency=currency)
        if kind == "deal.stage_changed":
            event["stage"] = "proposal"
    elif kind.startswith("meeting."):
        event["meeting_id"] = f"meeting-x{rng.getrandbits(32):08x}"
        if kind == "meeting.scheduled":
            event["scheduled_for"] = _shifted(str(base["occurred_at"]), timedelta(days=1))
        else:
            event.update(outcome="held", duration_s=1800)
    elif kind == "call.completed":
        event.update(
            call_id=f"call-x{rng.getrandbits(32):08x}", direction="outbound", outcome="connected", duration_s=95
        )
    elif kind == "target.set":
        event.update(period=str(base["occurred_at"])[:7], metric="won_amount", value=100000.0)
    elif kind == "calendar.set":
        del event["rep_id"]  # a team's, never a rep's
        weekday = [["09:00", "17:00"]]
        event.update(timezone="Europe/Warsaw", hours=dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), weekday))
    return event


def _shifted(stamp: str, delta: timedelta) -> str:
    moved = datetime.fromisoformat(stamp).astimezone(timezone.utc) + delta
    return moved.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _dumps_with(event: EventDict, field: str, raw: bytes) -> bytes:
    """Serialize with one field's value replaced by raw JSON-ish text (NaN, Infinity, 1e999...)."""
    marker = f"@@{field}@@"
    return orjson.dumps({**event, field: marker}).replace(f'"{marker}"'.encode(), raw)


def _m_not_json(rng: random.Random, event: EventDict, currency: str) -> bytes:
    whole = orjson.dumps(event)
    return rng.choice(
        [
            whole[: rng.randrange(1, len(whole))],
            b"",
            b"hello sales floor",
            b"{'event_id': 'x', 'type': 'lead.created'}",
            whole.replace(b'":', b'"=', 1),
            whole + b"}",
            b"{" + whole,
        ]
    )


def _m_random_bytes(rng: random.Random, event: EventDict, currency: str) -> bytes:
    body = bytes(b for b in rng.randbytes(rng.randrange(1, 200)) if b != 0x0A)
    return b"\xff" + body  # 0xff never occurs in UTF-8, so this is never valid JSON


def _m_not_object(rng: random.Random, event: EventDict, currency: str) -> bytes:
    return rng.choice([orjson.dumps([event]), b"42", b"-1.5", b'"lead.created"', b"null", b"true", b"[]"])


def _m_missing_field(rng: random.Random, event: EventDict, currency: str) -> bytes:
    out = copy_event(event, rng)
    del out[rng.choice(COMMON_REQUIRED + REQUIRED[event["type"]])]
    return orjson.dumps(out)


def _m_wrong_type(rng: random.Random, event: EventDict, currency: str) -> bytes:
    name = rng.choice(COMMON_REQUIRED + REQUIRED[event["type"]])
    if name in NUMBER_FIELDS:
        bad: Any = rng.choice(["1200", True, [1], {"value": 1}, "12.5"])
    elif name == "hours":  # an object: any other JSON type (an object of the wrong days is a bad value)
        bad = rng.choice([42, True, "mon-fri 09:00-17:00", [["09:00", "17:00"]], {"mon": "09:00-17:00"}])
    else:
        bad = rng.choice([42, 4.5, True, ["x"], {"id": "x"}])
    return orjson.dumps(copy_event(event, rng, **{name: bad}))


def _m_unknown_type(rng: random.Random, event: EventDict, currency: str) -> bytes:
    kind = rng.choice(["lead.deleted", "call.started", "Lead.Created", "deal.won ", "", "email.bounced", "*"])
    return orjson.dumps(copy_event(event, rng, type=kind))


def _m_timestamp(rng: random.Random, event: EventDict, currency: str) -> bytes:
    stamp = str(event["occurred_at"])
    bad = rng.choice(
        [
            stamp.rstrip("Z"),
            stamp[:19],
            stamp[:10] + " " + stamp[11:23],
            stamp[:10],
            "yesterday",
            "1700000000",
            stamp[:11] + "25" + stamp[13:],
            stamp[:5] + "02-30" + stamp[10:],
            "",
        ]
    )
    return orjson.dumps(copy_event(event, rng, occurred_at=bad))


def _m_amount(rng: random.Random, event: EventDict, currency: str) -> bytes:
    deal = _of_type(rng.choice(["deal.created", "deal.won", "deal.lost"]), event, rng, currency)
    raw = rng.choice(
        [
            b"-0.01",
            b"-5000",
            b"1000000000000.0",
            b"1e15",
            b"1e308",
            b"NaN",
            b"Infinity",
            b"-Infinity",
            b"1e999",
            b'"NaN"',
            b'"Infinity"',
            b'"5000.00"',
            b'"-"',
        ]
    )
    return _dumps_with(deal, "amount", raw)


def _m_id_underscore(rng: random.Random, event: EventDict, currency: str) -> bytes:
    names = [k for k, v in event.items() if k.endswith("_id") and isinstance(v, str)]
    name = rng.choice(names)
    return orjson.dumps(copy_event(event, rng, **{name: rng.choice(["_all", "_unassigned", "_" + event[name]])}))


def _m_id_control(rng: random.Random, event: EventDict, currency: str) -> bytes:
    names = [k for k, v in event.items() if k.endswith("_id") and isinstance(v, str)]
    name = rng.choice(names)
    value = (str(event[name]) if name != "event_id" else _uuid(rng))[: ID_LIMITS.get(name, 128) - 1]
    at = rng.randrange(len(value) + 1)
    bad = value[:at] + rng.choice(["\x00", "\x07", "\x1b", "\t", "\n", "\r", "\x7f", "\x85"]) + value[at:]
    return orjson.dumps(copy_event(event, rng, **{name: bad}))


def _m_currency(rng: random.Random, event: EventDict, currency: str) -> bytes:
    deal = _of_type(rng.choice(["deal.created", "deal.won", "deal.lost", "target.set"]), event, rng, currency)
    others = [c for c in ("USD", "GBP", "CHF", "JPY", currency.lower(), " " + currency, "") if c != currency]
    return orjson.dumps({**deal, "currency": rng.choice(others)})


def _m_id_length(rng: random.Random, event: EventDict, currency: str) -> bytes:
    name = rng.choice(sorted(ID_LIMITS))
    limit = ID_LIMITS[name]
    bad = rng.choice(["", "x" * (limit + 1), "y" * rng.randrange(limit + 2, 4 * limit)])
    out = _of_type("call.completed", event, rng, currency) if name == "rep_id" else copy_event(event, rng)
    out[name] = bad
    return orjson.dumps(out)


def _m_duration(rng: random.Random, event: EventDict, currency: str) -> bytes:
    call = _of_type("call.completed", event, rng, currency)
    bad = rng.choice([b"-1", b"-0.001", b"86400.5", b"86401", b"1e9", b"NaN"])
    return _dumps_with(call, "duration_s", bad)


def _m_bad_value(rng: random.Random, event: EventDict, currency: str) -> bytes:
    name, bad = rng.choice(
        [
            ("direction", "sideways"),
            ("direction", "Inbound"),
            ("outcome", "answered"),
            ("outcome", ""),
            ("metric", "calls"),
            ("period", "2026-13"),
            ("period", "2026-1"),
            ("period", "26-01"),
            ("value", -1.0),
            ("rep_id", None),
        ]
    )
    kind = "target.set" if name in ("metric", "period", "value") else "call.completed"
    return orjson.dumps({**_of_type(kind, event, rng, currency), name: bad})


def _m_bad_stage(rng: random.Random, event: EventDict, currency: str) -> bytes:
    stage = rng.choice(["won", "lost", "created", "Proposal", "demo", "closing", "", "qualification "])
    return orjson.dumps({**_of_type("deal.stage_changed", event, rng, currency), "stage": stage})


def _m_bad_target(rng: random.Random, event: EventDict, currency: str) -> bytes:
    name, bad = rng.choice(
        [
            ("metric", "revenue"),
            ("metric", "meetings_scheduled"),
            ("metric", "Won_Amount"),
            ("metric", ""),
            ("period", "2026-11-31"),
            ("period", "2026-02-30"),
            ("period", "2026-11-1"),
            ("period", "2026-W48"),
            ("period", "2026/11"),
            ("period", "2026-11-23T00:00:00Z"),
            ("period", "2026"),
        ]
    )
    return orjson.dumps({**_of_type("target.set", event, rng, currency), name: bad})


def _m_meeting_outcome(rng: random.Random, event: EventDict, currency: str) -> bytes:
    outcome = rng.choice(["completed", "noshow", "no-show", "Held", "rescheduled", "canceled", ""])
    return orjson.dumps({**_of_type("meeting.completed", event, rng, currency), "outcome": outcome})


def _m_no_scheduled_for(rng: random.Random, event: EventDict, currency: str) -> bytes:
    meeting = _of_type("meeting.scheduled", event, rng, currency)
    if rng.random() < 0.5:
        del meeting["scheduled_for"]
    else:
        meeting["scheduled_for"] = None
    return orjson.dumps(meeting)


def _m_bad_calendar(rng: random.Random, event: EventDict, currency: str) -> bytes:
    name, bad = rng.choice(
        [
            ("timezone", "Europe/Atlantis"),
            ("timezone", "europe/warsaw"),
            ("timezone", "UTC+01:00"),
            ("timezone", ""),
            ("hours", {"monday": [["09:00", "17:00"]]}),
            ("hours", {"mon": [["9:00", "17:00"]]}),
            ("hours", {"mon": [["09:00", "25:00"]]}),
            ("hours", {"mon": [["24:00", "06:00"]]}),
            ("hours", {"mon": [["09:00", "12:00", "17:00"]]}),
            ("hours", {"mon": [["09:00"]]}),
            ("holidays", ["2026-02-30"]),
            ("holidays", ["26-12-25"]),
            ("holidays", ["2026-12-25T00:00:00Z"]),
            ("rep_id", "rep-sim-01"),  # a calendar is a team's
        ]
    )
    return orjson.dumps({**_of_type("calendar.set", event, rng, currency), name: bad})


def _m_future(rng: random.Random, event: EventDict, currency: str) -> bytes:
    """The event stamped 1-3 days ahead of both its own time and the wall clock (clock skew): valid in
    every field, rejected on read. The wall clock counts by UTC day, so a run stays reproducible within it."""
    own = datetime.fromisoformat(str(event["occurred_at"])).astimezone(timezone.utc)
    today = datetime.fromtimestamp(time.time(), timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    base = max(own, today + timedelta(days=1))  # tomorrow 00:00 UTC is after the wall clock
    stamp = base + timedelta(days=1, milliseconds=rng.randrange(86_400_000))
    changes: dict[str, Any] = {"occurred_at": stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    if "scheduled_for" in event:
        changes["scheduled_for"] = _shifted(str(changes["occurred_at"]), timedelta(hours=2))
    return orjson.dumps(copy_event(event, rng, **changes))


MALFORMED_KINDS: Final[dict[str, Callable[[random.Random, EventDict, str], bytes]]] = {
    "not_json": _m_not_json,
    "random_bytes": _m_random_bytes,
    "not_object": _m_not_object,
    "missing_field": _m_missing_field,
    "wrong_type": _m_wrong_type,
    "unknown_type": _m_unknown_type,
    "bad_timestamp": _m_timestamp,
    "bad_amount": _m_amount,
    "id_underscore": _m_id_underscore,
    "id_control_char": _m_id_control,
    "wrong_currency": _m_currency,
    "id_length": _m_id_length,
    "bad_duration": _m_duration,
    "bad_value": _m_bad_value,
    "bad_stage": _m_bad_stage,
    "bad_target": _m_bad_target,
    "bad_meeting_outcome": _m_meeting_outcome,
    "no_scheduled_for": _m_no_scheduled_for,
    "bad_calendar": _m_bad_calendar,
    "future": _m_future,
}
# The engine's rejection reason(s) for each kind (`future` only when read: the decoder alone accepts it).
REASONS_OF_KIND: Final[dict[str, frozenset[str]]] = {
    "not_json": frozenset({"invalid_json"}),
    "random_bytes": frozenset({"invalid_json"}),
    "not_object": frozenset({"not_an_object"}),
    "missing_field": frozenset({"missing_field"}),
    "wrong_type": frozenset({"wrong_type"}),
    "unknown_type": frozenset({"unknown_type"}),
    "bad_timestamp": frozenset({"bad_timestamp"}),
    "bad_amount": frozenset({"out_of_range", "wrong_type", "invalid_json"}),
    "id_underscore": frozenset({"bad_id"}),
    "id_control_char": frozenset({"bad_id"}),
    "wrong_currency": frozenset({"wrong_currency"}),
    "id_length": frozenset({"bad_id"}),
    "bad_duration": frozenset({"out_of_range", "invalid_json"}),
    "bad_value": frozenset({"bad_value", "out_of_range", "missing_field"}),
    "bad_stage": frozenset({"bad_value"}),
    "bad_target": frozenset({"bad_value"}),
    "bad_meeting_outcome": frozenset({"bad_value"}),
    "no_scheduled_for": frozenset({"missing_field"}),
    "bad_calendar": frozenset({"bad_value"}),
    "future": frozenset({"future"}),
}
_KIND_NAMES: Final = tuple(MALFORMED_KINDS)


def malformed_value(
    rng: random.Random, event: EventDict, kind: str | None = None, *, currency: str = "EUR"
) -> tuple[bytes, str]:
    """One message SPEC §2 rejects, modelled on a valid event; returns (value, kind)."""
    kind = kind or rng.choice(_KIND_NAMES)
    return MALFORMED_KINDS[kind](rng, event, currency), kind

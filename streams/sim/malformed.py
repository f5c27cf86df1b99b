"""The malformed kinds of message SPEC §2 rejects, each modelled on a valid event (apart from the delivery
distortions in streams.sim.distort, which mix them into a stream)."""

from __future__ import annotations

import random
from collections.abc import Callable
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
    "deal.created": ("deal_id", "rep_id", "amount"),
    "deal.won": ("deal_id", "rep_id", "amount"),
    "deal.lost": ("deal_id", "rep_id"),
    "target.set": ("period", "metric", "value"),
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
    elif kind == "call.completed":
        event.update(
            call_id=f"call-x{rng.getrandbits(32):08x}", direction="outbound", outcome="connected", duration_s=95
        )
    elif kind == "target.set":
        event.update(period=str(base["occurred_at"])[:7], metric="won_amount", value=100000.0)
    return event


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
}
_KIND_NAMES: Final = tuple(MALFORMED_KINDS)


def malformed_value(
    rng: random.Random, event: EventDict, kind: str | None = None, *, currency: str = "EUR"
) -> tuple[bytes, str]:
    """One message SPEC §2 rejects, modelled on a valid event; returns (value, kind)."""
    kind = kind or rng.choice(_KIND_NAMES)
    return MALFORMED_KINDS[kind](rng, event, currency), kind

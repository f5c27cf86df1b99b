"""Ingest's decoder: one message value straight to the compact event the stages route and store.

`streams.records.decode_event` is the contract's decoder: it builds a typed record, and every rejection
names its reason. Building that record and then its compact form took ~6 µs an event, a fifth of a
worker's CPU. `decode_compact` checks the common shapes of valid events in place and builds only the
compact event (~3 µs with the JSON parse). It has no error path of its own: whatever it does not accept
outright (any invalid event, and the rare valid shapes it leaves out: `calendar.set`, timestamps with an
offset, ids with unprintable characters) goes to `decode_event`. So a rejection and its reason are
exactly the contract decoder's, and an accepted event is exactly `compact(decode_event(raw))`
(`tests/unit/test_decode_compact.py`).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import date
from typing import Any

import orjson

from agents.entities.state import compact
from agents.kpis.model import CompactEvent
from streams.records import (
    DIRECTIONS,
    EVENT_TYPES,
    MAX_AMOUNT,
    MAX_DURATION_S,
    MAX_TEXT,
    MEETING_OUTCOMES,
    OUTCOMES,
    PERIOD,
    REP_REQUIRED,
    SOURCES,
    TARGET_METRICS,
    decode_event,
)

# Z only: an offset, a lower-case t or z, or a space takes the contract decoder's path
_STAMP = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z\Z")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_DAY_US = 86_400_000_000
_days: dict[str, int | None] = {}  # YYYY-MM-DD -> its midnight in µs since the epoch (None: not a date)
_PRICED = frozenset({"deal", "target"})
_FAMILIES = frozenset({"lead", "call", "email", "deal", "meeting", "target"})  # not calendar.set


class _Unsure(Exception):
    """Not accepted here: the contract decoder decides."""


def decode_compact(raw: bytes, *, currency: str, stages: Collection[str], latest_us: int | None = None) -> CompactEvent:
    """`compact(decode_event(raw, ...))`, faster; raises what `decode_event` raises."""
    try:
        event: CompactEvent | None = _accept(orjson.loads(raw), currency, stages)
    except Exception:  # noqa: BLE001 - not JSON, not an object, a field out of line: the contract decides
        event = None
    if event is not None and (latest_us is None or event["a"] <= latest_us):
        return event
    return compact(decode_event(raw, currency=currency, stages=stages, latest_us=latest_us))


def _ident(value: Any, max_len: int = 128) -> str:
    if type(value) is not str or not 0 < len(value) <= max_len or value[0] == "_" or not value.isprintable():
        raise _Unsure  # an unprintable id without control characters is valid: the contract decoder says so
    return value


def _optional_ident(value: Any, max_len: int = 128) -> str | None:
    return None if value is None else _ident(value, max_len)


def _text(value: Any) -> None:
    if value is not None and (type(value) is not str or len(value) > MAX_TEXT):
        raise _Unsure


def _currency(given: Any, currency: str) -> bool:
    _text(given)
    return given is None or given == currency


def _micro(value: Any, high: float, *, inclusive: bool) -> int:
    """A number in [0, high) (or [0, high]) in exact micro-units, as `compact` rounds it."""
    if type(value) is not float and type(value) is not int:
        raise _Unsure
    number = float(value)
    if not (0 <= number <= high if inclusive else 0 <= number < high):  # NaN fails both
        raise _Unsure
    return round(number * 1_000_000)


def _at_us(value: Any) -> int:
    if type(value) is not str:
        raise _Unsure
    match = _STAMP.match(value)
    if match is None:
        raise _Unsure
    day, hour, minute, second, fraction = match.groups()
    midnight = _days.get(day, -1)
    if midnight == -1:
        midnight = _days[day] = _midnight(day)
    hour, minute, second = int(hour), int(minute), int(second)
    if midnight is None or hour > 23 or minute > 59 or second > 59:
        raise _Unsure
    micros = int(fraction[:6].ljust(6, "0")) if fraction else 0
    return midnight + ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros


def _midnight(day: str) -> int | None:
    if len(_days) > 100_000:  # a decade of days; only hostile input gets here
        _days.clear()
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        return None
    return (parsed.toordinal() - _EPOCH_ORDINAL) * _DAY_US if 1970 <= parsed.year <= 9998 else None


def _accept(obj: Any, currency: str, stages: Collection[str]) -> CompactEvent:
    """The compact event of a valid event of a common shape; raises `_Unsure` otherwise."""
    if type(obj) is not dict:
        raise _Unsure
    get = obj.get
    kind = get("type")
    if type(kind) is not str or kind not in EVENT_TYPES:
        raise _Unsure
    family = kind.partition(".")[0]
    if family not in _FAMILIES:
        raise _Unsure
    rep = get("rep_id")
    if rep is None and kind in REP_REQUIRED:
        raise _Unsure
    out: CompactEvent = {
        "i": _ident(get("event_id")),
        "y": kind,
        "a": _at_us(get("occurred_at")),
        "T": _ident(get("team_id"), 64),
        "R": _optional_ident(rep, 64),
    }
    if family == "lead":
        out["L"] = _ident(get("lead_id"))
        if kind == "lead.created":
            source = get("source")
            if source is not None:
                if type(source) is not str or source not in SOURCES:
                    raise _Unsure
                out["u"] = source
        elif kind == "lead.disqualified":
            _text(get("reason"))
        return out
    if family in _PRICED and not _currency(get("currency"), currency):
        raise _Unsure
    if family == "target":
        period, metric = get("period"), get("metric")
        if type(period) is not str or not PERIOD.match(period) or len(period) == 10 and _midnight(period) is None:
            raise _Unsure
        if type(metric) is not str or metric not in TARGET_METRICS:
            raise _Unsure
        out["P"], out["K"], out["v"] = period, metric, _micro(get("value"), MAX_AMOUNT, inclusive=False)
        return out
    lead = _optional_ident(get("lead_id"))
    if lead is not None:
        out["L"] = lead
    if family == "email":
        out["E"] = _ident(get("email_id"))
        return out
    if family == "call":
        out["C"] = _ident(get("call_id"))
        direction, outcome = get("direction"), get("outcome")
        if type(direction) is not str or direction not in DIRECTIONS:
            raise _Unsure
        if type(outcome) is not str or outcome not in OUTCOMES:
            raise _Unsure
        out["d"], out["o"] = direction, outcome
        out["s"] = _micro(get("duration_s"), MAX_DURATION_S, inclusive=True)
        return out
    if family == "deal":
        out["D"] = _ident(get("deal_id"))
        amount = get("amount")
        if amount is None and kind in ("deal.created", "deal.won"):
            raise _Unsure
        out["m"] = None if amount is None else _micro(amount, MAX_AMOUNT, inclusive=False)
        _text(get("reason"))
        if kind == "deal.stage_changed":
            stage = get("stage")
            if type(stage) is not str or stage not in stages:
                raise _Unsure
            out["S"] = stage
        return out
    out["M"] = _ident(get("meeting_id"))
    if kind == "meeting.scheduled":
        _at_us(get("scheduled_for"))
        return out
    # meeting.completed
    outcome = get("outcome")
    if type(outcome) is not str or outcome not in MEETING_OUTCOMES:
        raise _Unsure
    duration = get("duration_s")
    if duration is not None:
        _micro(duration, MAX_DURATION_S, inclusive=True)
    out["o"] = outcome
    return out

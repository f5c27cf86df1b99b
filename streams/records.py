"""The event contract of SPEC §2 in code: typed records and a strict decoder that never raises anything
but `InvalidEvent`."""

from __future__ import annotations

import math
import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, ClassVar, Literal, overload

import orjson

from streams.calendar_fields import WeekHours, parse_holidays, parse_hours, parse_timezone
from streams.errors import InvalidEvent

# re.ASCII: \d is 0-9 only (Python's \d also matches other scripts' digits, which int() reads: a period of
# Arabic-Indic digits passed as YYYY-MM)
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})\Z", re.ASCII)
PERIOD = re.compile(r"(\d{4})-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?\Z", re.ASCII)  # YYYY-MM or YYYY-MM-DD
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

MAX_AMOUNT = 1e12
MAX_DURATION_S = 86400
MAX_TEXT = 1024

SOURCES = frozenset({"inbound_web", "inbound_phone", "referral", "outbound", "event", "partner", "other"})
DIRECTIONS = frozenset({"outbound", "inbound"})
OUTCOMES = frozenset({"connected", "no_answer", "voicemail", "busy", "failed"})
MEETING_OUTCOMES = frozenset({"held", "no_show", "cancelled"})
DEFAULT_STAGES = ("qualification", "proposal", "negotiation")
TARGET_METRICS = frozenset({
    "won_amount", "deals_won", "opportunities_opened", "calls_outbound", "calls_connected", "emails_sent",
    "meetings_held", "leads_responded",
})  # fmt: skip

REASONS = (
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
    "future",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Fields common to every event; `at_us` is `occurred_at` in microseconds since the epoch."""

    type: ClassVar[str]
    event_id: str
    occurred_at: datetime
    at_us: int
    team_id: str
    rep_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadCreated(Event):
    type: ClassVar[str] = "lead.created"
    lead_id: str
    source: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadAssigned(Event):
    type: ClassVar[str] = "lead.assigned"
    lead_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LeadDisqualified(Event):
    type: ClassVar[str] = "lead.disqualified"
    lead_id: str
    reason: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCompleted(Event):
    type: ClassVar[str] = "call.completed"
    call_id: str
    direction: str
    outcome: str
    duration_s: float
    lead_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailEvent(Event):
    """`email.sent` (rep required) and the engagement events `email.opened`, `.clicked`, `.replied`,
    `.unsubscribed`."""

    type: ClassVar[str] = "email.*"
    kind: str
    email_id: str
    lead_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DealEvent(Event):
    """`deal.created`, `deal.won` (amount required), `deal.lost` and `deal.stage_changed` (amount optional)."""

    type: ClassVar[str] = "deal.*"
    kind: str
    deal_id: str
    amount: float | None = None
    lead_id: str | None = None
    reason: str | None = None
    stage: str | None = None  # deal.stage_changed only


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingEvent(Event):
    """`meeting.scheduled` (`scheduled_for` required) and `meeting.completed` (`outcome` required)."""

    type: ClassVar[str] = "meeting.*"
    kind: str
    meeting_id: str
    lead_id: str | None = None
    scheduled_for: datetime | None = None
    outcome: str | None = None
    duration_s: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSet(Event):
    type: ClassVar[str] = "target.set"
    period: str
    metric: str
    value: float


@dataclass(frozen=True, slots=True, kw_only=True)
class CalendarSet(Event):
    """A team's business hours (never a rep's): `timezone` an IANA name, `hours[weekday]` (Monday 0) its open
    ranges in minutes after local midnight (see `WeekHours`), `holidays` the local dates closed."""

    type: ClassVar[str] = "calendar.set"
    timezone: str
    hours: WeekHours
    holidays: frozenset[date] = frozenset()


EVENT_TYPES = frozenset({
    "lead.created", "lead.assigned", "lead.disqualified", "call.completed", "email.sent", "email.opened",
    "email.clicked", "email.replied", "email.unsubscribed", "deal.created", "deal.won", "deal.lost",
    "deal.stage_changed", "meeting.scheduled", "meeting.completed", "target.set", "calendar.set",
})  # fmt: skip


def event_type(event: Event) -> str:
    """The wire `type` of a decoded event."""
    return event.kind if isinstance(event, (EmailEvent, DealEvent, MeetingEvent)) else event.type


class _Fields:
    """Typed access to one JSON object, raising `InvalidEvent` with the exact problem."""

    __slots__ = ("obj",)

    def __init__(self, obj: dict[str, Any]) -> None:
        self.obj = obj

    def get(self, name: str, required: bool) -> Any:
        value = self.obj.get(name)
        if value is None and required:
            raise InvalidEvent("missing_field", f"missing required field {name!r}")
        return value

    @overload
    def ident(self, name: str, *, required: Literal[True] = True, max_len: int = 128) -> str: ...
    @overload
    def ident(self, name: str, *, required: bool, max_len: int = 128) -> str | None: ...
    def ident(self, name: str, *, required: bool = True, max_len: int = 128) -> str | None:
        value = self.get(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidEvent("wrong_type", f"{name} must be a string, got {type(value).__name__}")
        if not 1 <= len(value) <= max_len:
            raise InvalidEvent("bad_id", f"{name} must be 1-{max_len} characters, got {len(value)}")
        if value[0] == "_":
            raise InvalidEvent("bad_id", f"{name} must not start with '_' (reserved for aggregates)")
        if not value.isprintable() and _CONTROL.search(value):  # printable: no control character (C first)
            raise InvalidEvent("bad_id", f"{name} contains a control character")
        return value

    def text(self, name: str) -> str | None:
        value = self.get(name, False)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidEvent("wrong_type", f"{name} must be a string, got {type(value).__name__}")
        if len(value) > MAX_TEXT:
            raise InvalidEvent("out_of_range", f"{name} is longer than {MAX_TEXT} characters")
        return value

    @overload
    def choice(self, name: str, allowed: Collection[str], *, required: Literal[True] = True) -> str: ...
    @overload
    def choice(self, name: str, allowed: Collection[str], *, required: bool) -> str | None: ...
    def choice(self, name: str, allowed: Collection[str], *, required: bool = True) -> str | None:
        value = self.text(name) if not required else self.get(name, True)
        if value is None:
            return None
        if not isinstance(value, str):
            raise InvalidEvent("wrong_type", f"{name} must be a string, got {type(value).__name__}")
        if value not in allowed:
            raise InvalidEvent("bad_value", f"{name} must be one of {sorted(allowed)}, got {value[:64]!r}")
        return value

    @overload
    def number(
        self, name: str, *, low: float, high: float, required: Literal[True] = True, high_inclusive: bool = False
    ) -> float: ...
    @overload
    def number(
        self, name: str, *, low: float, high: float, required: bool, high_inclusive: bool = False
    ) -> float | None: ...
    def number(
        self, name: str, *, low: float, high: float, required: bool = True, high_inclusive: bool = False
    ) -> float | None:
        value = self.get(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InvalidEvent("wrong_type", f"{name} must be a number, got {type(value).__name__}")
        number = float(value)
        above = number > high if high_inclusive else number >= high
        if not math.isfinite(number) or number < low or above:
            bound = "<=" if high_inclusive else "<"
            raise InvalidEvent("out_of_range", f"{name} must be {low:g} <= {name} {bound} {high:g}, got {value}")
        return number


def parse_timestamp(value: object, name: str = "occurred_at") -> tuple[datetime, int]:
    """An RFC 3339 timestamp with an offset, as an aware datetime and epoch microseconds."""
    if not isinstance(value, str):
        raise InvalidEvent("wrong_type", f"{name} must be a string, got {type(value).__name__}")
    match = _RFC3339.match(value)
    if match is None:
        raise InvalidEvent(
            "bad_timestamp",
            f"{name} must be RFC 3339 with an offset or Z (2026-11-22T09:15:03.120Z), got {value[:64]!r}",
        )
    date, clock, fraction, offset = match.groups()
    micros = (fraction or "").ljust(6, "0")[:6]
    offset = "+00:00" if offset in ("Z", "z") else offset
    try:
        stamp = datetime.fromisoformat(f"{date}T{clock}.{micros}{offset}")
    except ValueError as exc:
        raise InvalidEvent("bad_timestamp", f"{name} is not a real time: {exc}") from None
    if not 1970 <= stamp.year <= 9998:
        raise InvalidEvent("bad_timestamp", f"{name} year {stamp.year} is out of range")
    delta = stamp - _EPOCH
    return stamp, (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def decode_event(
    raw: bytes | str, *, currency: str = "EUR", stages: Collection[str] = DEFAULT_STAGES, latest_us: int | None = None
) -> Event:
    """Decode and validate one message value; any problem raises `InvalidEvent`, nothing else. With
    `latest_us` (the wall clock plus `SALESFLOOR_MAX_FUTURE_SECONDS`), a later event is rejected as `future`."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent("invalid_json", f"not valid UTF-8 JSON: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - e.g. a memoryview of the wrong kind
        raise InvalidEvent("invalid_json", f"not decodable: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidEvent("not_an_object", f"value must be a JSON object, got {type(obj).__name__}")
    try:
        event = _build(_Fields(obj), currency, stages)
    except InvalidEvent:
        raise
    except Exception as exc:  # noqa: BLE001 - the decoder's promise: only InvalidEvent escapes
        raise InvalidEvent("bad_value", f"cannot decode event: {type(exc).__name__}: {exc}") from None
    if latest_us is not None and event.at_us > latest_us:
        raise InvalidEvent(
            "future", f"occurred_at {event.occurred_at.isoformat()} is further ahead of the wall clock than "
            "SALESFLOOR_MAX_FUTURE_SECONDS allows"
        )  # fmt: skip
    return event


def _build(f: _Fields, currency: str, stages: Collection[str]) -> Event:
    event_id = f.ident("event_id")
    kind = f.get("type", True)
    if not isinstance(kind, str):
        raise InvalidEvent("wrong_type", f"type must be a string, got {type(kind).__name__}")
    if kind not in EVENT_TYPES:
        raise InvalidEvent("unknown_type", f"unknown event type {kind[:64]!r}")
    if "occurred_at" not in f.obj or f.obj["occurred_at"] is None:
        raise InvalidEvent("missing_field", "missing required field 'occurred_at'")
    occurred_at, at_us = parse_timestamp(f.obj["occurred_at"])
    team_id = f.ident("team_id", max_len=64)
    if kind == "calendar.set" and f.obj.get("rep_id") is not None:
        raise InvalidEvent("bad_value", "rep_id must be absent in a calendar.set: a calendar belongs to a team")
    rep_required = kind in REP_REQUIRED
    common: dict[str, Any] = {
        "event_id": event_id,
        "occurred_at": occurred_at,
        "at_us": at_us,
        "team_id": team_id,
        "rep_id": f.ident("rep_id", required=rep_required, max_len=64),
    }
    family = kind.partition(".")[0]
    if family == "lead":
        lead_id = f.ident("lead_id")
        if kind == "lead.created":
            return LeadCreated(**common, lead_id=lead_id, source=f.choice("source", SOURCES, required=False))
        if kind == "lead.assigned":
            return LeadAssigned(**common, lead_id=lead_id)
        return LeadDisqualified(**common, lead_id=lead_id, reason=f.text("reason"))
    if family == "call":
        return CallCompleted(
            **common,
            call_id=f.ident("call_id"),
            lead_id=f.ident("lead_id", required=False),
            direction=f.choice("direction", DIRECTIONS),
            outcome=f.choice("outcome", OUTCOMES),
            duration_s=f.number("duration_s", low=0, high=MAX_DURATION_S, high_inclusive=True),
        )
    if family == "email":
        return EmailEvent(**common, kind=kind, email_id=f.ident("email_id"), lead_id=f.ident("lead_id", required=False))
    if family == "deal":
        _check_currency(f, currency)
        return DealEvent(
            **common,
            kind=kind,
            deal_id=f.ident("deal_id"),
            lead_id=f.ident("lead_id", required=False),
            amount=f.number("amount", low=0, high=MAX_AMOUNT, required=kind in ("deal.created", "deal.won")),
            reason=f.text("reason"),
            stage=f.choice("stage", stages) if kind == "deal.stage_changed" else None,
        )
    if family == "meeting":
        scheduled = kind == "meeting.scheduled"
        return MeetingEvent(
            **common,
            kind=kind,
            meeting_id=f.ident("meeting_id"),
            lead_id=f.ident("lead_id", required=False),
            scheduled_for=parse_timestamp(f.get("scheduled_for", True), "scheduled_for")[0] if scheduled else None,
            outcome=None if scheduled else f.choice("outcome", MEETING_OUTCOMES),
            duration_s=None if scheduled else f.number("duration_s", low=0, high=MAX_DURATION_S, required=False,
                                                       high_inclusive=True),
        )  # fmt: skip
    if family == "calendar":
        return CalendarSet(
            **common,
            timezone=parse_timezone(f.get("timezone", False)),
            hours=parse_hours(f.get("hours", False)),
            holidays=parse_holidays(f.get("holidays", False)),
        )
    period = f.text("period")
    if period is None:
        raise InvalidEvent("missing_field", "missing required field 'period'")
    if not PERIOD.match(period):
        raise InvalidEvent("bad_value", f"period must be YYYY-MM or YYYY-MM-DD, got {period[:32]!r}")
    if len(period) == 10:
        try:
            date.fromisoformat(period)
        except ValueError:
            raise InvalidEvent("bad_value", f"period {period!r} is not a real date") from None
    _check_currency(f, currency)
    return TargetSet(
        **common,
        period=period,
        metric=f.choice("metric", TARGET_METRICS),
        value=f.number("value", low=0, high=MAX_AMOUNT),
    )


REP_REQUIRED = frozenset({
    "lead.assigned", "call.completed", "email.sent", "deal.created", "deal.won", "deal.lost", "deal.stage_changed",
    "meeting.scheduled", "meeting.completed",
})  # fmt: skip


def _check_currency(f: _Fields, currency: str) -> None:
    given = f.text("currency")
    if given is not None and given != currency:
        raise InvalidEvent("wrong_currency", f"currency {given[:16]!r} differs from the reporting currency {currency}")

"""The first half of the reference computation (`streams.audit.reference`): events parsed on integer
microseconds, late and repeated ones dropped, then replayed into entity views in event-time order."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from streams.audit.calendars import Change, business_us, is_valid_calendar, parse_calendar

ALL = "_all"
UNASSIGNED = "_unassigned"
US = 1_000_000  # microseconds per second
MINUTE_US = 60 * US
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RFC3339 = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})")


# --------------------------------------------------------------------------------------------- time


def to_us(moment: datetime) -> int:
    """Integer microseconds since the epoch of an aware datetime (exact)."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: an offset or time zone is required")
    return (moment - _EPOCH) // timedelta(microseconds=1)


def parse_time(text: str) -> int:
    """RFC 3339 timestamp -> microseconds since the epoch (fraction truncated to 6 digits)."""
    match = _RFC3339.fullmatch(text.strip().upper())
    if match is None:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    base, fraction, offset = match.groups()
    micros = (fraction or "")[:6].ljust(6, "0")
    offset = "+00:00" if offset == "Z" else offset
    return to_us(datetime.fromisoformat(f"{base}.{micros}{offset}"))


@dataclass(frozen=True)
class Windows:
    """Which windows a moment falls in: local day, local month, and the last 60 epoch minutes."""

    zone: ZoneInfo
    today: date
    minute: int | None  # M = floor(now / 60 s); None when last_60m is not computed

    @property
    def names(self) -> tuple[str, ...]:
        return ("today", "month") if self.minute is None else ("today", "month", "last_60m")

    @property
    def period(self) -> str:
        return f"{self.today.year:04d}-{self.today.month:02d}"

    def of(self, t_us: int) -> tuple[str, ...]:
        local = (_EPOCH + timedelta(microseconds=t_us)).astimezone(self.zone).date()
        found: list[str] = []
        if local == self.today:
            found.append("today")
        if (local.year, local.month) == (self.today.year, self.today.month):
            found.append("month")
        if self.minute is not None and self.minute - 59 <= t_us // MINUTE_US <= self.minute:
            found.append("last_60m")
        return tuple(found)


# ---------------------------------------------------------------------------------- entity views


@dataclass(frozen=True, order=True)
class Event:
    """One accepted event. Ordering is event time, then ``event_id`` (the kpi-rules tie-break)."""

    t: int
    event_id: str
    type: str
    team: str
    rep: str | None
    data: Mapping[str, Any] = field(compare=False, repr=False)

    def get(self, name: str) -> Any:
        return self.data.get(name)

    def moment(self) -> datetime:
        """The event time as an aware UTC datetime."""
        return _EPOCH + timedelta(microseconds=self.t)


@dataclass
class Lead:
    created: Event | None = None  # earliest lead.created
    assigned: Event | None = None  # latest lead.assigned
    assignments: list[Event] = field(default_factory=list)  # every lead.assigned, in event-time order
    contacts: list[Event] = field(default_factory=list)  # in event-time order
    conversion: Event | None = None  # earliest deal.created carrying this lead_id
    disqualified: bool = False

    @property
    def owner(self) -> str:
        assert self.created is not None
        return self.created.rep or UNASSIGNED

    @property
    def current_owner(self) -> str:
        if self.assigned is None:
            return self.owner
        return self.assigned.rep or UNASSIGNED

    @property
    def awaiting(self) -> bool:
        """Created, no contact at all, not disqualified, not converted (the live awaiting leads)."""
        return self.created is not None and not self.contacts and not self.disqualified and self.conversion is None


@dataclass
class Views:
    leads: dict[str, Lead] = field(default_factory=lambda: defaultdict(Lead))
    emails: dict[str, Event] = field(default_factory=dict)  # email_id -> earliest email.sent
    email_actions: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # type -> ids
    calls: list[Event] = field(default_factory=list)
    deal_events: list[Event] = field(default_factory=list)  # deal.created / won / lost
    deal_created: dict[str, Event] = field(default_factory=dict)  # deal_id -> earliest deal.created
    deals_closed: set[str] = field(default_factory=set)  # deal_ids with a deal.won or deal.lost
    deal_stage: dict[str, Event] = field(default_factory=dict)  # deal_id -> latest deal.stage_changed
    stage_entered: dict[tuple[str, str], Event] = field(default_factory=dict)  # (deal, stage) -> earliest
    meetings_scheduled: list[Event] = field(default_factory=list)
    meeting_outcome: dict[str, Event] = field(default_factory=dict)  # meeting_id -> latest completed
    # (meeting_id, lead_id) -> latest meeting.completed of that meeting carrying that lead_id
    meeting_lead_outcome: dict[tuple[str, str], Event] = field(default_factory=dict)
    # (team, rep or _all, period, metric) -> latest target.set
    targets: dict[tuple[str, str, str, str], Event] = field(default_factory=dict)
    # team -> its accepted calendar.set, in event-time order (the last one at or before t is in force)
    calendars: dict[str, list[Change]] = field(default_factory=lambda: defaultdict(list))

    def business_us(self, team: str, start_us: int, end_us: int) -> int:
        """Business microseconds of [start, end) on the team's SLA clock (its calendars, else the wall)."""
        return business_us(self.calendars.get(team, ()), start_us, end_us)


def accepted_events(
    events: Iterable[Mapping[str, Any]],
    now_us: int,
    retention_us: int,
    *,
    max_future_us: int | None = None,
    stages: Collection[str] | None = None,
) -> list[Event]:
    """Parse, drop late, future, unknown-stage and invalid-calendar events, then drop repeated
    event_ids (first occurrence in arrival order wins).

    The dropped events go first because they change no state, not even the duplicate filter's
    memory of seen ids: a late event (older than the retention; a ``calendar.set`` never is) is
    dropped, a future one (stamped more than ``max_future_us`` after ``now``), a ``deal.stage_changed``
    to a stage outside ``stages`` and a ``calendar.set`` the decoder rejects
    (``streams.audit.calendars.parse_calendar``) are rejected.
    """
    seen: set[str] = set()
    accepted: list[Event] = []
    for raw in events:
        t = parse_time(raw["occurred_at"])
        if raw["event_id"] in seen or (t < now_us - retention_us and raw["type"] != "calendar.set"):
            continue  # (a calendar stays in force however old it is)
        if max_future_us is not None and t > now_us + max_future_us:
            continue
        if stages is not None and raw["type"] == "deal.stage_changed" and raw.get("stage") not in stages:
            continue
        if raw["type"] == "calendar.set" and not is_valid_calendar(raw):
            continue
        seen.add(raw["event_id"])
        accepted.append(Event(t, raw["event_id"], raw["type"], raw["team_id"], raw.get("rep_id"), raw))
    return accepted


def is_contact(event: Event) -> bool:
    """SPEC §4 contact (calls only; an email contact is its email's earliest email.sent, a meeting
    contact its latest meeting.completed carrying the lead_id, when that says ``held``)."""
    if event.type != "call.completed" or not event.get("lead_id"):
        return False
    return bool(event.get("direction") == "outbound" or event.get("outcome") == "connected")


def build_views(events: list[Event]) -> Views:
    views = Views()
    for e in sorted(events):  # event-time order: first seen = earliest, last seen = latest
        lead_id = e.get("lead_id")
        if e.type == "lead.created":
            if views.leads[lead_id].created is None:
                views.leads[lead_id].created = e
        elif e.type == "lead.assigned":
            views.leads[lead_id].assigned = e
            views.leads[lead_id].assignments.append(e)
        elif e.type == "lead.disqualified":
            views.leads[lead_id].disqualified = True
        elif e.type == "call.completed":
            views.calls.append(e)
            if is_contact(e):
                views.leads[lead_id].contacts.append(e)
        elif e.type == "email.sent":
            if e.get("email_id") not in views.emails:
                views.emails[e.get("email_id")] = e
                if lead_id:
                    views.leads[lead_id].contacts.append(e)
        elif e.type in ("email.opened", "email.clicked", "email.replied", "email.unsubscribed"):
            views.email_actions[e.type].add(e.get("email_id"))
        elif e.type == "meeting.scheduled":
            views.meetings_scheduled.append(e)
        elif e.type == "meeting.completed":
            views.meeting_outcome[e.get("meeting_id")] = e
            if lead_id:
                views.meeting_lead_outcome[(e.get("meeting_id"), lead_id)] = e
        elif e.type == "deal.stage_changed":
            views.deal_stage[e.get("deal_id")] = e
            views.stage_entered.setdefault((e.get("deal_id"), e.get("stage")), e)
        elif e.type in ("deal.created", "deal.won", "deal.lost"):
            views.deal_events.append(e)
            if e.type == "deal.created":
                views.deal_created.setdefault(e.get("deal_id"), e)
                if lead_id and views.leads[lead_id].conversion is None:
                    views.leads[lead_id].conversion = e
            else:
                views.deals_closed.add(e.get("deal_id"))
        elif e.type == "target.set":
            views.targets[(e.team, e.rep or ALL, e.get("period"), e.get("metric"))] = e
        elif e.type == "calendar.set":
            views.calendars[e.team].append((e.t, parse_calendar(e.data)))
    met: set[str] = set()
    for (_meeting_id, lead_id), e in views.meeting_lead_outcome.items():
        if e.get("outcome") == "held":  # a held meeting is one contact, at the time that says so
            views.leads[lead_id].contacts.append(e)
            met.add(lead_id)
    for lead_id in met:
        views.leads[lead_id].contacts.sort()  # back in event-time order (ties: event_id)
    return views

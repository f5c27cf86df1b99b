"""The terms of SPEC §4 that several families share: a contact, a lead's first contact, its
conversion, its owner and current owner; worked out once per lead entity."""

from __future__ import annotations

from dataclasses import dataclass

from agents.kpis.model import UNASSIGNED, CompactEvent, Entity, by_time, earliest, latest


def is_contact(event: CompactEvent) -> bool:
    """An outbound call (any outcome), an inbound connected call, or an email sent. (A held meeting is a
    contact too, but only its meeting's latest outcome says so: `held_meetings`.)"""
    kind = event["y"]
    if kind == "call.completed":
        return event["d"] == "outbound" or event["o"] == "connected"
    return kind == "email.sent"


@dataclass(slots=True)
class LeadFacts:
    """One lead as the KPIs see it; only for leads whose `lead.created` was seen."""

    team: str
    owner: str  # the rep of its `lead.created`, else `_unassigned`
    created_at: int
    source: str | None  # its `lead.created`'s
    contacts: list[CompactEvent]  # by time: contact calls, each email once (its earliest `email.sent`), held meetings
    meetings: list[CompactEvent]  # held meetings: the `meeting.completed` saying so, by time
    conversion: CompactEvent | None  # its earliest `deal.created`
    disqualified: bool

    @property
    def contacts_before_conversion(self) -> int:
        """Its contacts stamped before its conversion (0 when not converted)."""
        if self.conversion is None:
            return 0
        at = self.conversion["a"]
        return sum(1 for contact in self.contacts if contact["a"] < at)

    @property
    def waiting(self) -> bool:
        """Created, not contacted, not disqualified, not converted."""
        return not self.contacts and self.conversion is None and not self.disqualified


def lead_facts(entity: Entity) -> LeadFacts | None:
    """The lead's facts (memoized on the entity), or None while its `lead.created` is unseen."""
    if entity.lead is not None:
        return entity.lead
    created = earliest(entity.of("lead.created"))
    if created is None:
        return None
    calls = [e for e in entity.of("call.completed") if is_contact(e)]
    emails: dict[str, CompactEvent] = {}
    for sent in by_time(entity.of("email.sent")):
        emails.setdefault(sent["E"], sent)
    meetings = held_meetings(entity.of("meeting.completed"))
    facts = entity.lead = LeadFacts(
        team=created["T"],
        owner=created["R"] or UNASSIGNED,
        created_at=created["a"],
        source=created.get("u"),
        contacts=by_time([*calls, *emails.values(), *meetings]),
        meetings=meetings,
        conversion=earliest(entity.of("deal.created")),
        disqualified=bool(entity.of("lead.disqualified")),
    )
    return facts


def current_owner(entity: Entity, facts: LeadFacts) -> str:
    """The rep of the lead's latest `lead.assigned`, else its owner."""
    assigned = latest(entity.of("lead.assigned"))
    rep = assigned["R"] if assigned else None
    return rep or facts.owner


def held_meetings(completions: list[CompactEvent]) -> list[CompactEvent]:
    """Of each meeting's `meeting.completed` events, the latest, when it says `held`; by time."""
    if not completions:
        return []
    latest_of: dict[str, CompactEvent] = {}
    for event in completions:
        current = latest_of.get(event["M"])
        if current is None or (event["a"], event["i"]) > (current["a"], current["i"]):
            latest_of[event["M"]] = event
    return by_time(e for e in latest_of.values() if e["o"] == "held")

"""Lead KPIs: response time and SLA, follow-up, conversion, contacts before conversion, and the
leads waiting for a first contact right now."""

from __future__ import annotations

from agents.activity import add_calls, is_contact
from agents.contributions import (
    UNASSIGNED,
    CompactEvent,
    ContributionBuilder,
    by_time,
    earliest,
    latest,
    response_bucket,
)

CREATED = "lc"
CONVERTED = "lv"
RESPONDED = "rn"
RESPONSE_SUM_US = "rs"
WITHIN_SLA = "rw"
FOLLOWED_UP = "rf"
RESPONSE_HISTOGRAM = "rh"  # + bucket index
CONVERSIONS = "cn"
CONTACTS_BEFORE_CONVERSION = "cs"
AWAITING = "aw"


def add_lead(out: ContributionBuilder, events: list[CompactEvent], sla_us: int) -> None:
    """Everything one lead contributes, from all its events seen so far in any order."""
    add_calls(out, events)
    created = earliest(e for e in events if e["y"] == "lead.created")
    if created is None:
        return
    team, owner, created_at = created["T"], created["R"] or UNASSIGNED, created["a"]
    contacts = _contacts(events)
    conversion = earliest(e for e in events if e["y"] == "deal.created")

    out.add(team, owner, created_at, CREATED)
    if conversion is not None:
        out.add(team, owner, created_at, CONVERTED)
        before = sum(1 for contact in contacts if contact["a"] < conversion["a"])
        at, deal_team, deal_rep = conversion["a"], conversion["T"], conversion["R"]
        out.add(deal_team, deal_rep, at, CONVERSIONS)
        if before:
            out.add(deal_team, deal_rep, at, CONTACTS_BEFORE_CONVERSION, before)
    if contacts:
        first = contacts[0]
        response = max(0, first["a"] - created_at)
        rep, at = first["R"], first["a"]
        out.add(team, rep, at, RESPONDED)
        if response:
            out.add(team, rep, at, RESPONSE_SUM_US, response)
        if response <= sla_us:
            out.add(team, rep, at, WITHIN_SLA)
        if len(contacts) >= 2:
            out.add(team, rep, at, FOLLOWED_UP)
        out.add(team, rep, at, f"{RESPONSE_HISTOGRAM}{response_bucket(response)}")
    elif conversion is None and not any(e["y"] == "lead.disqualified" for e in events):
        assigned = latest(e for e in events if e["y"] == "lead.assigned")
        out.add_live(team, assigned["R"] if assigned else owner, AWAITING)
        out.add_awaiting_since(team, created_at)


def _contacts(events: list[CompactEvent]) -> list[CompactEvent]:
    """Contacts by time: each call, and each email once (its earliest `email.sent`)."""
    calls = [e for e in events if e["y"] == "call.completed" and is_contact(e)]
    emails: dict[str, CompactEvent] = {}
    for sent in by_time(e for e in events if e["y"] == "email.sent"):
        emails.setdefault(sent["E"], sent)
    return by_time([*calls, *emails.values()])

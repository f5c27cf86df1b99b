"""Breakdowns in the reference computation (SPEC §4 "Breakdowns"): leads, conversions and won amount
by lead source, leads and their conversion by response-time bucket, and conversions by the number of
contacts before them. Team and floor series only (no ``rep`` label); every value of a closed label
list is exported for counts (0 when none), a ratio only over a non-empty bucket."""

from __future__ import annotations

import math

from streams.audit.facts import Facts, Result, key
from streams.audit.views import ALL, US, Lead, Views

UNKNOWN = "unknown"
SOURCES = ("inbound_web", "inbound_phone", "referral", "outbound", "event", "partner", "other", UNKNOWN)
RESPONSES = ("le_5m", "le_1h", "le_24h", "gt_24h", "none")
# (label, largest response in microseconds it holds), checked in order; above the last: gt_24h
_RESPONSE_LIMITS = (("le_5m", 300 * US), ("le_1h", 3600 * US), ("le_24h", 86400 * US))
CONTACTS = ("0", "1", "2", "3-4", "5-7", "8-12", "13+")
# (label, largest number of contacts it holds), checked in order; above the last: 13+
_CONTACT_LIMITS = (("0", 0), ("1", 1), ("2", 2), ("3-4", 4), ("5-7", 7), ("8-12", 12))


def source_of(lead: Lead | None) -> str:
    """The ``source`` of a lead's ``lead.created``; ``unknown`` when absent or the creation unseen."""
    if lead is None or lead.created is None:
        return UNKNOWN
    source = lead.created.get("source")
    return source if source in SOURCES else UNKNOWN


def response_bucket(lead: Lead) -> str:
    """The wall-clock response time's bucket: first contact − creation, floored at 0; ``none`` when
    the lead has no contact at all (disqualified or converted, it is still ``none``)."""
    assert lead.created is not None
    if not lead.contacts:
        return "none"
    response_us = max(0, lead.contacts[0].t - lead.created.t)
    return next((label for label, limit in _RESPONSE_LIMITS if response_us <= limit), "gt_24h")


def contacts_bucket(contacts: int) -> str:
    return next((label for label, limit in _CONTACT_LIMITS if contacts <= limit), "13+")


def breakdown_facts(views: Views, facts: Facts) -> None:
    """Team-level facts: per created lead at its creation (lead's team), per lead's conversion at its
    time (that deal.created's team), per deal.won event at its time (its team)."""
    for lead in views.leads.values():
        created = lead.created
        if created is None:  # KPIs about leads count only leads whose creation was seen
            continue
        source, response = source_of(lead), response_bucket(lead)
        facts.add_team(f"created_by_source:{source}", created.team, created.t)
        facts.add_team(f"created_by_response:{response}", created.team, created.t)
        if lead.conversion is None:
            continue
        facts.add_team(f"converted_by_source:{source}", created.team, created.t)  # cohort of creation
        facts.add_team(f"converted_by_response:{response}", created.team, created.t)
        deal = lead.conversion  # contacts before conversion: strictly earlier, as contacts_before_conversion
        before = sum(1 for contact in lead.contacts if contact.t < deal.t)
        facts.add_team(f"converted_by_contacts:{contacts_bucket(before)}", deal.team, deal.t)
    for e in views.deal_events:
        if e.type == "deal.won":  # every accepted deal.won, as won_amount: the sources sum to it
            lead_id = e.get("lead_id")
            source = source_of(views.leads.get(lead_id)) if lead_id else UNKNOWN
            facts.add_team(f"won_by_source:{source}", e.team, e.t, float(e.get("amount")))


def export_breakdowns(facts: Facts, teams: set[str], result: Result) -> None:
    """Every breakdown series of each team (and the floor, always) in every window."""
    for team in teams | {ALL}:
        for window in facts.windows.names:
            export_team(facts, team, window, result)


def export_team(facts: Facts, team: str, window: str, result: Result) -> None:
    """The breakdowns of one team (or the floor) in one window."""

    def count(fact: str) -> int:
        return len(facts.get(fact, team, ALL, window))

    def put(name: str, value: float, **label: str) -> None:
        result[key(name, team=team, window=window, **label)] = float(value)

    for source in SOURCES:
        put("salesfloor_leads_created_by_source", count(f"created_by_source:{source}"), source=source)
        put("salesfloor_leads_converted_by_source", count(f"converted_by_source:{source}"), source=source)
        won = facts.get(f"won_by_source:{source}", team, ALL, window)
        put("salesfloor_won_amount_by_source", math.fsum(won), source=source)
    for response in RESPONSES:
        leads = count(f"created_by_response:{response}")
        put("salesfloor_leads_by_response", leads, response=response)
        if leads > 0:  # a ratio over an empty bucket is not exported
            converted = count(f"converted_by_response:{response}")
            put("salesfloor_lead_conversion_ratio_by_response", converted / leads, response=response)
    for contacts in CONTACTS:
        put("salesfloor_leads_converted_by_contacts", count(f"converted_by_contacts:{contacts}"), contacts=contacts)

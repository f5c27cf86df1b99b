"""Breakdowns (SPEC §4): leads, conversions and won amounts by lead source, leads and conversion by
response time, conversions by contacts before them. Team and floor only, every label from a closed
list, so the series count does not grow with reps or leads."""

from __future__ import annotations

from collections.abc import Iterator

from agents.kpis.model import ALL, MICRO, ContributionBuilder, Entity, Family, Fields, Labels, Series
from agents.kpis.terms import lead_facts
from streams.records import SOURCES

UNKNOWN = "unknown"
SOURCE_LABELS = (*sorted(SOURCES), UNKNOWN)
RESPONSE_LABELS = ("le_5m", "le_1h", "le_24h", "gt_24h", "none")
_RESPONSE_EDGES = ((300 * MICRO, "le_5m"), (3600 * MICRO, "le_1h"), (86400 * MICRO, "le_24h"))
CONTACTS_LABELS = ("0", "1", "2", "3-4", "5-7", "8-12", "13+")
_CONTACTS_LABEL = ("0", "1", "2", "3-4", "3-4", "5-7", "5-7", "5-7", "8-12", "8-12", "8-12", "8-12", "8-12")

CREATED_BY_SOURCE = "bs:"  # + source
CONVERTED_BY_SOURCE = "bc:"
WON_BY_SOURCE = "bw:"
CREATED_BY_RESPONSE = "br:"  # + response bucket
CONVERTED_BY_RESPONSE = "bv:"
CONVERTED_BY_CONTACTS = "bk:"  # + contacts bucket


def response_label(response_us: int | None) -> str:
    """The response bucket of a response time (µs, floored at 0), `none` for a lead not contacted."""
    if response_us is None:
        return "none"
    for edge, label in _RESPONSE_EDGES:
        if response_us <= edge:
            return label
    return "gt_24h"


def contacts_label(contacts: int) -> str:
    return _CONTACTS_LABEL[contacts] if contacts < len(_CONTACTS_LABEL) else "13+"


def contribute(entity: Entity, out: ContributionBuilder) -> None:
    """A lead's creation, conversion and the wins that name it; a win naming no lead is `unknown`."""
    if entity.kind == "D":
        for won in entity.of("deal.won"):
            if "L" not in won and won.get("m"):
                out.add_team(won["T"], won["a"], WON_BY_SOURCE + UNKNOWN, won.get("m") or 0)
        return
    facts = lead_facts(entity)
    source = (facts.source if facts else None) or UNKNOWN
    for won in entity.of("deal.won"):
        if won.get("m"):
            out.add_team(won["T"], won["a"], WON_BY_SOURCE + source, won.get("m") or 0)
    if facts is None:
        return
    team, created_at = facts.team, facts.created_at
    response = response_label(max(0, facts.contacts[0]["a"] - created_at) if facts.contacts else None)
    out.add_team(team, created_at, CREATED_BY_SOURCE + source)
    out.add_team(team, created_at, CREATED_BY_RESPONSE + response)
    if facts.conversion is not None:
        out.add_team(team, created_at, CONVERTED_BY_SOURCE + source)
        out.add_team(team, created_at, CONVERTED_BY_RESPONSE + response)
        bucket = contacts_label(facts.contacts_before_conversion)
        out.add_team(facts.conversion["T"], facts.conversion["a"], CONVERTED_BY_CONTACTS + bucket)


def windowed(acc: Fields, labels: Labels) -> Iterator[Series]:
    if labels["rep"] != ALL:
        return
    team, window = labels["team"], labels["window"]
    for source in SOURCE_LABELS:
        by = {"team": team, "window": window, "source": source}
        yield "salesfloor_leads_created_by_source", by, float(acc.get(CREATED_BY_SOURCE + source, 0))
        yield "salesfloor_leads_converted_by_source", by, float(acc.get(CONVERTED_BY_SOURCE + source, 0))
        yield "salesfloor_won_amount_by_source", by, acc.get(WON_BY_SOURCE + source, 0) / MICRO
    for response in RESPONSE_LABELS:
        by = {"team": team, "window": window, "response": response}
        leads = acc.get(CREATED_BY_RESPONSE + response, 0)
        yield "salesfloor_leads_by_response", by, float(leads)
        if leads > 0:
            converted = acc.get(CONVERTED_BY_RESPONSE + response, 0)
            yield "salesfloor_lead_conversion_ratio_by_response", by, converted / leads
    for contacts in CONTACTS_LABELS:
        by = {"team": team, "window": window, "contacts": contacts}
        yield "salesfloor_leads_converted_by_contacts", by, float(acc.get(CONVERTED_BY_CONTACTS + contacts, 0))


FAMILY = Family(
    name="breakdowns",
    kinds="LD",
    contribute=contribute,
    fields=(
        CREATED_BY_SOURCE,
        CONVERTED_BY_SOURCE,
        WON_BY_SOURCE,
        CREATED_BY_RESPONSE,
        CONVERTED_BY_RESPONSE,
        CONVERTED_BY_CONTACTS,
    ),
    windowed=windowed,
    extra=(
        "salesfloor_leads_created_by_source",
        "salesfloor_leads_converted_by_source",
        "salesfloor_won_amount_by_source",
        "salesfloor_leads_by_response",
        "salesfloor_lead_conversion_ratio_by_response",
        "salesfloor_leads_converted_by_contacts",
    ),
    help={
        "salesfloor_leads_created_by_source": "Leads created in the window, by lead source.",
        "salesfloor_leads_converted_by_source": "Leads created in the window that converted (cohort), by source.",
        "salesfloor_won_amount_by_source": "Won amount in the window by the source of the deal's lead.",
        "salesfloor_leads_by_response": "Leads created in the window by first-contact response time (none: not yet).",
        "salesfloor_lead_conversion_ratio_by_response": "Conversion of leads created in the window, by response time.",
        "salesfloor_leads_converted_by_contacts": "Leads converted in the window by contacts before the conversion.",
    },
)

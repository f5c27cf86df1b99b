"""Conversion: leads created in a window that are converted (cohort), and the contacts a lead had
before its conversion, counted at the conversion."""

from __future__ import annotations

from agents.kpis.model import ContributionBuilder, Entity, Family
from agents.kpis.response import CREATED
from agents.kpis.terms import lead_facts

CONVERTED = "lv"
CONVERSIONS = "cn"
CONTACTS_BEFORE_CONVERSION = "cs"


def contribute(entity: Entity, out: ContributionBuilder) -> None:
    facts = lead_facts(entity)
    if facts is None or facts.conversion is None:
        return
    conversion = facts.conversion
    out.add(facts.team, facts.owner, facts.created_at, CONVERTED)
    at, deal_team, deal_rep = conversion["a"], conversion["T"], conversion["R"] or facts.owner
    before = facts.contacts_before_conversion
    out.add(deal_team, deal_rep, at, CONVERSIONS)
    if before:
        out.add(deal_team, deal_rep, at, CONTACTS_BEFORE_CONVERSION, before)


FAMILY = Family(
    name="conversion",
    kinds="L",
    contribute=contribute,
    fields=(CONVERTED, CONVERSIONS, CONTACTS_BEFORE_CONVERSION),
    counts=(("salesfloor_leads_converted", CONVERTED, 1),),
    ratios=(
        ("salesfloor_lead_conversion_ratio", CONVERTED, (CREATED,), 1),
        ("salesfloor_contacts_before_conversion_avg", CONTACTS_BEFORE_CONVERSION, (CONVERSIONS,), 1),
    ),
)

"""Follow-up: leads responded in a window that got at least a second contact, whenever (cohort)."""

from __future__ import annotations

from agents.kpis.model import ContributionBuilder, Entity, Family
from agents.kpis.response import RESPONDED
from agents.kpis.terms import lead_facts

FOLLOWED_UP = "rf"


def contribute(entity: Entity, out: ContributionBuilder) -> None:
    facts = lead_facts(entity)
    if facts is not None and len(facts.contacts) >= 2:
        first = facts.contacts[0]
        out.add(facts.team, first["R"] or facts.owner, first["a"], FOLLOWED_UP)


FAMILY = Family(
    name="follow_up",
    kinds="L",
    contribute=contribute,
    fields=(FOLLOWED_UP,),
    counts=(("salesfloor_leads_followed_up", FOLLOWED_UP, 1),),
    ratios=(("salesfloor_follow_up_ratio", FOLLOWED_UP, (RESPONDED,), 1),),
)

"""Meetings and deal stages in the reference computation (issue 13): meeting counts and the
meeting-to-deal cohort, first entries into each deal stage, and the open pipeline by current stage.

Held meetings as contacts of their lead are part of the lead view (``streams.audit.views``), so the
lead KPIs (first contact, follow-up, contacts before conversion, awaiting) pick them up unchanged."""

from __future__ import annotations

import math
from collections import defaultdict

from streams.audit.facts import Facts, Result, key
from streams.audit.views import ALL, UNASSIGNED, Views

CREATED = "created"  # the stage of a deal without any deal.stage_changed


def meeting_facts(views: Views, facts: Facts) -> None:
    """meetings_scheduled per event; each meeting's latest outcome at its time, team and rep; the
    meeting-to-deal cohort of each created lead's first held meeting."""
    for e in views.meetings_scheduled:
        facts.add("meetings_scheduled", e.team, e.rep or UNASSIGNED, e.t)
    for e in views.meeting_outcome.values():
        outcome = e.get("outcome")
        if outcome == "held":
            facts.add("meetings_held", e.team, e.rep or UNASSIGNED, e.t)
        elif outcome == "no_show":
            facts.add("meetings_no_show", e.team, e.rep or UNASSIGNED, e.t)
    for lead in views.leads.values():
        if lead.created is None:
            continue
        # contacts are in event-time order (ties: smallest event_id first): the first meeting one
        first = next((c for c in lead.contacts if c.type == "meeting.completed"), None)
        if first is None:
            continue
        facts.add("met_leads", first.team, first.rep or UNASSIGNED, first.t)
        if lead.conversion is not None:
            facts.add("met_leads_converted", first.team, first.rep or UNASSIGNED, first.t)


def stage_facts(views: Views, facts: Facts) -> None:
    """Per deal and stage, its first deal.stage_changed to that stage, at that event's time, team, rep."""
    for (_deal_id, stage), e in views.stage_entered.items():
        facts.add(f"entered_stage:{stage}", e.team, e.rep or UNASSIGNED, e.t)


def entered_stage(facts: Facts, stage: str, team: str, rep: str, window: str) -> int:
    return len(facts.get(f"entered_stage:{stage}", team, rep, window))


def pipeline_by_stage(views: Views, teams: set[str], stages: tuple[str, ...], result: Result) -> None:
    """Live open pipeline by current stage, per team and floor, for ``created`` and every stage."""
    amounts: dict[tuple[str, str], list[float]] = defaultdict(list)
    for deal_id, created in views.deal_created.items():
        if deal_id in views.deals_closed:
            continue
        latest = views.deal_stage.get(deal_id)
        stage = CREATED if latest is None else str(latest.get("stage"))
        for team in (created.team, ALL):
            amounts[(team, stage)].append(float(created.get("amount")))
    for team in teams | {ALL}:
        for stage in (CREATED, *stages):
            total = math.fsum(amounts.get((team, stage), []))
            result[key("salesfloor_pipeline_open_amount_by_stage", team=team, stage=stage)] = total

"""Response times on the team's SLA clock and from the assignment in the reference computation
(SPEC §4 "Business time"): ``lead_response_business_seconds``, ``lead_assignment_response_seconds``
and the live ``lead_oldest_awaiting_business_seconds``. Business time itself is
``streams.audit.calendars``; ``within_sla`` is a lead fact of ``streams.audit.reference``, on the same
clock (``Views.business_us``)."""

from __future__ import annotations

from streams.audit.facts import Facts, Result, key, nearest_rank
from streams.audit.views import ALL, UNASSIGNED, US, Event, Lead, Views

STATS = ("avg", "p50", "p90", "max")


def business_response_us(views: Views, lead: Lead) -> int:
    """First contact − creation on the lead's team's SLA clock (0 for a contact before creation)."""
    assert lead.created is not None and lead.contacts
    return views.business_us(lead.created.team, lead.created.t, lead.contacts[0].t)


def assignment_before(lead: Lead, t_us: int) -> Event | None:
    """The latest ``lead.assigned`` stamped at or before ``t_us`` (ties: greatest event_id)."""
    return next((e for e in reversed(lead.assignments) if e.t <= t_us), None)


def business_facts(views: Views, facts: Facts) -> None:
    """Per responded lead whose creation was seen, at its first contact's time, in the lead's team:
    its business response (rep making the first contact) and, when it had an assignment by then, the
    wall time from the latest one to the first contact (rep of that assignment)."""
    for lead in views.leads.values():
        created = lead.created
        if created is None or not lead.contacts:
            continue
        first = lead.contacts[0]
        rep = first.rep or UNASSIGNED  # contacts always carry rep_id
        facts.add("business_response_us", created.team, rep, first.t, business_response_us(views, lead))
        assigned = assignment_before(lead, first.t)
        if assigned is not None:
            since_us = max(0, first.t - assigned.t)
            facts.add("assignment_response_us", created.team, assigned.rep or UNASSIGNED, first.t, since_us)


def stats(values_us: list[float]) -> dict[str, float]:
    """avg, p50, p90 (nearest rank) and max in seconds of a non-empty list of microseconds."""
    ordered = sorted(values_us)
    return {
        "avg": sum(ordered) / len(ordered) / US,
        "p50": nearest_rank(ordered, 50) / US,
        "p90": nearest_rank(ordered, 90) / US,
        "max": ordered[-1] / US,
    }


def export_business(facts: Facts, team: str, rep: str, window: str, result: Result) -> None:
    """The two response-time families of one scope and window, each only over a non-empty population."""
    for fact, name in (
        ("business_response_us", "salesfloor_lead_response_business_seconds"),
        ("assignment_response_us", "salesfloor_lead_assignment_response_seconds"),
    ):
        values = facts.get(fact, team, rep, window)
        if values:
            for stat, value in stats(values).items():
                result[key(name, team=team, rep=rep, window=window, stat=stat)] = value


def oldest_awaiting_business(views: Views, now_us: int, teams: set[str], result: Result) -> None:
    """Live, per team and floor: the age on its own team's SLA clock of the lead that
    ``lead_oldest_awaiting_seconds`` picks (earliest creation; ties: smallest event_id); 0 when none."""
    oldest: dict[str, Event] = {}  # team (and ALL) -> lead.created of its oldest awaiting lead
    for lead in views.leads.values():
        created = lead.created
        if created is None or not lead.awaiting:
            continue
        for team in (created.team, ALL):
            if team not in oldest or created < oldest[team]:
                oldest[team] = created
    for team in teams | {ALL}:
        created = oldest.get(team)
        age_us = 0 if created is None else views.business_us(created.team, created.t, now_us)
        result[key("salesfloor_lead_oldest_awaiting_business_seconds", team=team)] = age_us / US

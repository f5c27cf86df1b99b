"""Lead response: leads created and responded, response time (avg, p50, p90, max), the share within
the SLA, and the leads waiting for a first contact right now (SPEC §4)."""

from __future__ import annotations

import math
from collections.abc import Iterator

from agents.kpis.model import (
    ALL,
    MICRO,
    Clocks,
    ContributionBuilder,
    Entity,
    Family,
    Fields,
    Labels,
    Series,
    latest,
)
from agents.kpis.terms import current_owner, lead_facts

CREATED = "lc"
RESPONDED = "rn"
RESPONSE_SUM_US = "rs"
WITHIN_SLA = "rw"
RESPONSE_HISTOGRAM = "rh"  # + bucket index
BUSINESS_SUM_US = "qs"  # the same on the team's SLA clock
BUSINESS_HISTOGRAM = "qh"
ASSIGNED_RESPONDED = "nn"  # leads first contacted after an assignment, by the assigned rep
ASSIGNED_SUM_US = "ns"
ASSIGNED_HISTOGRAM = "nh"
AWAITING = "aw"
OLDEST_AWAITING = "ao"  # in shipped live snapshots: earliest creation (µs) among awaiting leads
OLDEST_OF = "ao:"  # + team, in the floor's: the earliest creation among each team's awaiting leads


class Response:
    """The SLA is a setting: the family is built with it (`family(sla_us)`)."""

    def __init__(self, sla_us: int) -> None:
        self.sla_us = sla_us

    def contribute(self, entity: Entity, out: ContributionBuilder) -> None:
        facts = lead_facts(entity)
        if facts is None:
            return
        team, created_at = facts.team, facts.created_at
        out.add(team, facts.owner, created_at, CREATED)
        if facts.contacts:
            first = facts.contacts[0]
            rep, at = first["R"] or facts.owner, first["a"]
            response = max(0, at - created_at)
            business = out.business_us(team, created_at, at)
            out.add(team, rep, at, RESPONDED)
            if response:
                out.add(team, rep, at, RESPONSE_SUM_US, response)
            if business:
                out.add(team, rep, at, BUSINESS_SUM_US, business)
            if business <= self.sla_us:
                out.add(team, rep, at, WITHIN_SLA)
            out.add(team, rep, at, f"{RESPONSE_HISTOGRAM}{response_bucket(response)}")
            out.add(team, rep, at, f"{BUSINESS_HISTOGRAM}{response_bucket(business)}")
            assigned = latest(e for e in entity.of("lead.assigned") if e["a"] <= at)
            if assigned is not None and assigned["R"]:
                waited = max(0, at - assigned["a"])
                out.add(team, assigned["R"], at, ASSIGNED_RESPONDED)
                if waited:
                    out.add(team, assigned["R"], at, ASSIGNED_SUM_US, waited)
                out.add(team, assigned["R"], at, f"{ASSIGNED_HISTOGRAM}{response_bucket(waited)}")
        elif facts.waiting:
            out.add_live(team, current_owner(entity, facts), AWAITING)
            out.add_awaiting_since(team, created_at)


def response_bucket(value_us: int) -> int:
    """Histogram bucket of a response time: whole seconds below 100 s, 1 % wide above."""
    seconds = value_us / MICRO
    if seconds < 100:
        return int(seconds)
    return 100 + int(math.log(seconds / 100) / math.log(1.01))


def response_bucket_value(index: int) -> float:
    """The value reported for a histogram bucket: within 0.5 s below 100 s, within 0.5 % above."""
    if index < 100:
        return index + 0.5
    low = 100 * 1.01 ** (index - 100)
    return math.sqrt(low * low * 1.01)


_STATS = (
    ("salesfloor_lead_response_seconds", RESPONDED, RESPONSE_SUM_US, RESPONSE_HISTOGRAM),
    ("salesfloor_lead_response_business_seconds", RESPONDED, BUSINESS_SUM_US, BUSINESS_HISTOGRAM),
    ("salesfloor_lead_assignment_response_seconds", ASSIGNED_RESPONDED, ASSIGNED_SUM_US, ASSIGNED_HISTOGRAM),
)


def response_series(acc: Fields, labels: Labels) -> Iterator[Series]:
    for metric, count_field, sum_field, prefix in _STATS:
        count = acc.get(count_field, 0)
        if count > 0:
            for stat, value in response_stats(acc, count, sum_field, prefix).items():
                yield metric, {**labels, "stat": stat}, value


def response_stats(acc: Fields, count: int, sum_field: str, prefix: str) -> dict[str, float]:
    """avg exactly; p50, p90 and max by nearest rank over a response histogram."""
    histogram = sorted((int(name[len(prefix) :]), n) for name, n in acc.items() if name.startswith(prefix) and n > 0)
    stats = {"avg": acc.get(sum_field, 0) / MICRO / count}
    for stat, share in (("p50", 0.5), ("p90", 0.9)):
        rank = max(1, -(-count * int(share * 100) // 100))  # ceil(share * n) in integers
        seen = 0
        for index, n in histogram:
            seen += n
            if seen >= rank:
                stats[stat] = response_bucket_value(index)
                break
    if histogram:
        stats["max"] = response_bucket_value(histogram[-1][0])
    return stats


def live_series(live: Fields, team: str, rep: str, now_us: int, clocks: Clocks) -> Iterator[Series]:
    yield "salesfloor_leads_awaiting_response", {"team": team, "rep": rep}, float(live.get(AWAITING, 0))
    if rep != ALL:
        return
    oldest = live.get(OLDEST_AWAITING)
    age = max(0.0, (now_us - oldest) / MICRO) if oldest is not None else 0.0
    yield "salesfloor_lead_oldest_awaiting_seconds", {"team": team}, age
    business = 0.0
    if oldest is not None:
        lead_team = team
        if team == ALL:  # the floor's oldest lead waits on its own team's clock
            teams = [(created, name[len(OLDEST_OF) :]) for name, created in live.items() if name.startswith(OLDEST_OF)]
            lead_team = min(teams)[1] if teams else ALL
        clock = clocks.get(lead_team)
        waited = max(0, now_us - oldest) if clock is None else clock.business_us(oldest, now_us)
        business = waited / MICRO
    yield "salesfloor_lead_oldest_awaiting_business_seconds", {"team": team}, business


def family(sla_us: int) -> Family:
    return Family(
        name="response",
        kinds="L",
        contribute=Response(sla_us).contribute,
        fields=(
            CREATED,
            RESPONDED,
            RESPONSE_SUM_US,
            WITHIN_SLA,
            RESPONSE_HISTOGRAM,
            BUSINESS_SUM_US,
            BUSINESS_HISTOGRAM,
            ASSIGNED_RESPONDED,
            ASSIGNED_SUM_US,
            ASSIGNED_HISTOGRAM,
            AWAITING,
            OLDEST_AWAITING,
        ),
        paced=(RESPONDED,),
        counts=(
            ("salesfloor_leads_created", CREATED, 1),
            ("salesfloor_leads_responded", RESPONDED, 1),
        ),
        ratios=(("salesfloor_lead_response_within_sla_ratio", WITHIN_SLA, (RESPONDED,), 1),),
        windowed=response_series,
        live=live_series,
        extra=tuple(metric for metric, *_ in _STATS),
        help={
            "salesfloor_lead_response_seconds": "Lead response time (first contact - creation), by stat.",
            "salesfloor_leads_awaiting_response": "Leads waiting for a first contact now, by current owner.",
            "salesfloor_lead_oldest_awaiting_seconds": "Wall-clock age of the oldest lead waiting for a first contact.",
            "salesfloor_lead_oldest_awaiting_business_seconds": "Oldest waiting lead's age on its team's SLA clock.",
            "salesfloor_lead_response_business_seconds": "Lead response time on the team's SLA clock, by stat.",
            "salesfloor_lead_assignment_response_seconds": "First contact - latest assignment before it, by stat.",
        },
    )

"""Lead response: leads created and responded, response time (avg, p50, p90, max), the share within
the SLA, and the leads waiting for a first contact right now (SPEC §4)."""

from __future__ import annotations

import math
from collections.abc import Iterator

from agents.kpis.model import ALL, MICRO, ContributionBuilder, Entity, Family, Fields, Labels, Series
from agents.kpis.terms import current_owner, lead_facts

CREATED = "lc"
RESPONDED = "rn"
RESPONSE_SUM_US = "rs"
WITHIN_SLA = "rw"
RESPONSE_HISTOGRAM = "rh"  # + bucket index
AWAITING = "aw"
OLDEST_AWAITING = "ao"  # in shipped live snapshots: earliest creation (µs) among awaiting leads


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
            response = max(0, first["a"] - created_at)
            rep, at = first["R"] or facts.owner, first["a"]
            out.add(team, rep, at, RESPONDED)
            if response:
                out.add(team, rep, at, RESPONSE_SUM_US, response)
            if response <= self.sla_us:
                out.add(team, rep, at, WITHIN_SLA)
            out.add(team, rep, at, f"{RESPONSE_HISTOGRAM}{response_bucket(response)}")
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


def response_series(acc: Fields, labels: Labels) -> Iterator[Series]:
    responded = acc.get(RESPONDED, 0)
    if responded > 0:
        for stat, value in response_stats(acc, responded).items():
            yield "salesfloor_lead_response_seconds", {**labels, "stat": stat}, value


def response_stats(acc: Fields, responded: int) -> dict[str, float]:
    """avg exactly; p50, p90 and max by nearest rank over the response histogram."""
    prefix = RESPONSE_HISTOGRAM
    histogram = sorted(
        (int(name[len(prefix) :]), count) for name, count in acc.items() if name.startswith(prefix) and count > 0
    )
    stats = {"avg": acc.get(RESPONSE_SUM_US, 0) / MICRO / responded}
    for stat, share in (("p50", 0.5), ("p90", 0.9)):
        rank = max(1, -(-responded * int(share * 100) // 100))  # ceil(share * n) in integers
        seen = 0
        for index, count in histogram:
            seen += count
            if seen >= rank:
                stats[stat] = response_bucket_value(index)
                break
    if histogram:
        stats["max"] = response_bucket_value(histogram[-1][0])
    return stats


def live_series(live: Fields, team: str, rep: str, now_us: int) -> Iterator[Series]:
    yield "salesfloor_leads_awaiting_response", {"team": team, "rep": rep}, float(live.get(AWAITING, 0))
    if rep == ALL:
        oldest = live.get(OLDEST_AWAITING)
        age = max(0.0, (now_us - oldest) / MICRO) if oldest is not None else 0.0
        yield "salesfloor_lead_oldest_awaiting_seconds", {"team": team}, age


def family(sla_us: int) -> Family:
    return Family(
        name="response",
        kinds="L",
        contribute=Response(sla_us).contribute,
        fields=(CREATED, RESPONDED, RESPONSE_SUM_US, WITHIN_SLA, RESPONSE_HISTOGRAM, AWAITING, OLDEST_AWAITING),
        counts=(
            ("salesfloor_leads_created", CREATED, 1),
            ("salesfloor_leads_responded", RESPONDED, 1),
        ),
        ratios=(("salesfloor_lead_response_within_sla_ratio", WITHIN_SLA, (RESPONDED,), 1),),
        windowed=response_series,
        live=live_series,
        extra=("salesfloor_lead_response_seconds",),
        help={
            "salesfloor_lead_response_seconds": "Lead response time (first contact - creation), by stat.",
            "salesfloor_leads_awaiting_response": "Leads waiting for a first contact now, by current owner.",
            "salesfloor_lead_oldest_awaiting_seconds": "Wall-clock age of the oldest lead waiting for a first contact.",
        },
    )

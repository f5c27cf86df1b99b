"""Productivity: what a rep's calls and talk time yield in wins, from the fields of the activity and
revenue families (it writes none of its own)."""

from __future__ import annotations

from collections.abc import Iterator

from agents.kpis.activity import CALLS_OUTBOUND, TALK_TIME_US
from agents.kpis.model import ContributionBuilder, Entity, Family, Fields, Labels, Series
from agents.kpis.revenue import WON, WON_AMOUNT


def contribute(entity: Entity, out: ContributionBuilder) -> None:  # pragma: no cover - reads no entity
    return


def windowed(acc: Fields, labels: Labels) -> Iterator[Series]:
    outbound = acc.get(CALLS_OUTBOUND, 0)
    if outbound > 0:
        yield "salesfloor_deals_per_1000_calls", labels, acc.get(WON, 0) * 1000 / outbound
    talk_us = acc.get(TALK_TIME_US, 0)
    if talk_us > 0:  # (won µ-units / 10^6) / (talk µs / 10^6 / 3600)
        yield "salesfloor_won_amount_per_talk_hour", labels, acc.get(WON_AMOUNT, 0) * 3600 / talk_us


FAMILY = Family(
    name="productivity",
    kinds="",
    contribute=contribute,
    fields=(),
    windowed=windowed,
    extra=("salesfloor_deals_per_1000_calls", "salesfloor_won_amount_per_talk_hour"),
    help={
        "salesfloor_deals_per_1000_calls": "Deals won per 1,000 outbound calls in the window.",
        "salesfloor_won_amount_per_talk_hour": "Won amount per hour of connected talk time in the window.",
    },
)

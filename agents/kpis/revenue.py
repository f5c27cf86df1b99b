"""Revenue: opportunities, wins and losses, deal size, sales cycle, the open pipeline, and the month's
won-amount target with its attainment."""

from __future__ import annotations

from collections.abc import Iterator

from agents.kpis.model import (
    ALL,
    MICRO,
    ContributionBuilder,
    Entity,
    Family,
    Fields,
    Labels,
    MonthContext,
    Series,
    earliest,
    latest,
)

OPPORTUNITIES = "op"
WON = "wn"
WON_AMOUNT = "wa"
LOST = "ln"
LOST_AMOUNT = "la"
CYCLES = "yn"
CYCLE_SUM_US = "ys"
PIPELINE_OPEN = "po"
TARGET = "tg"


def contribute(entity: Entity, out: ContributionBuilder) -> None:
    if entity.kind == "T":
        _target(entity, out)
        return
    created = earliest(entity.of("deal.created"))
    closed = False
    for event in entity.events:
        kind, team, rep, at = event["y"], event["T"], event["R"] or "", event["a"]
        if kind == "deal.created":
            out.add(team, rep, at, OPPORTUNITIES)
        elif kind == "deal.won":
            closed = True
            out.add(team, rep, at, WON)
            out.add(team, rep, at, WON_AMOUNT, event.get("m") or 0)
            if created is not None:
                out.add(team, rep, at, CYCLES)
                out.add(team, rep, at, CYCLE_SUM_US, max(0, at - created["a"]))
        elif kind == "deal.lost":
            closed = True
            out.add(team, rep, at, LOST)
            if event.get("m"):
                out.add(team, rep, at, LOST_AMOUNT, event.get("m") or 0)
    amount = None if created is None else created.get("m")
    if created is not None and not closed and amount:
        out.add_live(created["T"], created["R"] or "", PIPELINE_OPEN, amount)


def _target(entity: Entity, out: ContributionBuilder) -> None:
    """The latest target for one team or rep and month; set, never summed across levels."""
    target = latest(entity.of("target.set"))
    if target is not None:
        out.set_exact(target["T"], target["R"] or ALL, "p" + target["P"], TARGET, target.get("v", 0))


def targets(month: MonthContext) -> Iterator[Series]:
    target = month.buckets.get("p" + month.period, {}).get(TARGET)
    if target is None:
        return
    yield "salesfloor_target_amount", month.labels, target / MICRO
    if target > 0:
        yield "salesfloor_quota_attainment_ratio", month.labels, month.acc.get(WON_AMOUNT, 0) / target


def live_series(live: Fields, team: str, rep: str, now_us: int) -> Iterator[Series]:
    labels: Labels = {"team": team, "rep": rep}
    yield "salesfloor_pipeline_open_amount", labels, live.get(PIPELINE_OPEN, 0) / MICRO


FAMILY = Family(
    name="revenue",
    kinds="DT",
    contribute=contribute,
    fields=(OPPORTUNITIES, WON, WON_AMOUNT, LOST, LOST_AMOUNT, CYCLES, CYCLE_SUM_US, PIPELINE_OPEN, TARGET),
    counts=(
        ("salesfloor_opportunities_opened", OPPORTUNITIES, 1),
        ("salesfloor_deals_won", WON, 1),
        ("salesfloor_deals_lost", LOST, 1),
        ("salesfloor_won_amount", WON_AMOUNT, MICRO),
        ("salesfloor_lost_amount", LOST_AMOUNT, MICRO),
    ),
    ratios=(
        ("salesfloor_win_ratio", WON, (WON, LOST), 1),
        ("salesfloor_average_deal_size", WON_AMOUNT, (WON,), MICRO),
        ("salesfloor_sales_cycle_seconds_avg", CYCLE_SUM_US, (CYCLES,), MICRO),
    ),
    monthly=targets,
    live=live_series,
    help={"salesfloor_pipeline_open_amount": "Amount of deals created and not yet won or lost."},
)

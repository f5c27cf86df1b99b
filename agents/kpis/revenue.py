"""Revenue: opportunities, wins and losses, deal size, sales cycle, deal stages, the open pipeline
(by rep and by stage) and the month's won-amount growth against the previous month."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

from agents.kpis.model import (
    ALL,
    MICRO,
    Clocks,
    ContributionBuilder,
    Entity,
    Family,
    Fields,
    Labels,
    PeriodContext,
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
ENTERED_STAGE = "g:"  # + stage
OPEN_BY_STAGE = "p:"  # + stage, in the team and floor live buckets
WON_AT = "w"  # bucket prefix: w<YYYY-MM-DD> holds won amounts by local second of day (growth's cut)
CREATED_STAGE = "created"


class Revenue:
    """The deal stages are a setting: the family is built with them (`family(stages)`)."""

    def __init__(self, stages: tuple[str, ...]) -> None:
        self.stages = stages

    def contribute(self, entity: Entity, out: ContributionBuilder) -> None:
        created = earliest(entity.of("deal.created"))
        closed = False
        for event in entity.events:
            kind, team, rep, at = event["y"], event["T"], event["R"] or "", event["a"]
            if kind == "deal.created":
                out.add(team, rep, at, OPPORTUNITIES)
            elif kind == "deal.won":
                closed = True
                amount = event.get("m") or 0
                out.add(team, rep, at, WON)
                out.add(team, rep, at, WON_AMOUNT, amount)
                if amount:
                    out.add_by_time(team, rep, at, WON_AT, amount)
                if created is not None:
                    out.add(team, rep, at, CYCLES)
                    out.add(team, rep, at, CYCLE_SUM_US, max(0, at - created["a"]))
            elif kind == "deal.lost":
                closed = True
                out.add(team, rep, at, LOST)
                if event.get("m"):
                    out.add(team, rep, at, LOST_AMOUNT, event.get("m") or 0)
        moves = entity.of("deal.stage_changed")
        entered: dict[str, tuple[int, str]] = {}
        for move in moves:
            first = entered.get(move["S"])
            if first is None or (move["a"], move["i"]) < first:
                entered[move["S"]] = (move["a"], move["i"])
        for move in moves:
            if entered[move["S"]] == (move["a"], move["i"]):
                out.add(move["T"], move["R"] or "", move["a"], ENTERED_STAGE + move["S"])
        opened = None if created is None else created.get("m")
        if created is not None and not closed and opened:
            current = latest(moves)
            stage = CREATED_STAGE if current is None else current["S"]
            out.add_live(created["T"], created["R"] or "", PIPELINE_OPEN, opened)
            out.add_live_team(created["T"], OPEN_BY_STAGE + stage, opened)

    def windowed(self, acc: Fields, labels: Labels) -> Iterator[Series]:
        for stage in self.stages:
            yield "salesfloor_deals_entered_stage", {**labels, "stage": stage}, float(acc.get(ENTERED_STAGE + stage, 0))

    def live(self, live: Fields, team: str, rep: str, now_us: int, clocks: Clocks) -> Iterator[Series]:
        labels: Labels = {"team": team, "rep": rep}
        yield "salesfloor_pipeline_open_amount", labels, live.get(PIPELINE_OPEN, 0) / MICRO
        if rep == ALL:
            for stage in (CREATED_STAGE, *self.stages):
                value = live.get(OPEN_BY_STAGE + stage, 0) / MICRO
                yield "salesfloor_pipeline_open_amount_by_stage", {"team": team, "stage": stage}, value


def growth(context: PeriodContext) -> Iterator[Series]:
    """Won amount of the month so far against the previous month up to the same elapsed local time."""
    if context.window != "month":
        return
    days, cut_day, cut = previous_month_cut(context.period, context.now_us // MICRO, context.clock.zone)
    buckets = context.buckets
    before = sum(buckets.get(day, {}).get(WON_AMOUNT, 0) for day in days)
    if cut_day is not None:
        before += sum(amount for second, amount in buckets.get(cut_day, {}).items() if int(second) < cut)
    if before > 0:
        yield "salesfloor_won_amount_growth_ratio", context.labels, context.acc.get(WON_AMOUNT, 0) / before - 1


@lru_cache(maxsize=8)  # every team/rep of a scrape asks for the same cut
def previous_month_cut(period: str, now_s: int, zone: ZoneInfo) -> tuple[tuple[str, ...], str | None, int]:
    """The previous month's whole days before the cut (day buckets), the by-time bucket of the day the
    cut falls in (None: the whole month is before it) and the cut's local second of that day."""
    first = date.fromisoformat(period + "-01")
    previous = (first - timedelta(days=1)).replace(day=1)
    length = (first - previous).days
    now = datetime.fromtimestamp(now_s, tz=timezone.utc).astimezone(zone)
    if now.strftime("%Y-%m") == period and now.day - 1 < length:
        whole_days, cut = now.day - 1, now.hour * 3600 + now.minute * 60 + now.second
    else:  # a past month, or one longer than the previous month has days: the whole previous month
        whole_days, cut = length, 0
    days = tuple("d" + (previous + timedelta(days=n)).isoformat() for n in range(whole_days))
    cut_day = WON_AT + (previous + timedelta(days=whole_days)).isoformat() if whole_days < length else None
    return days, cut_day, cut


def family(stages: tuple[str, ...]) -> Family:
    revenue = Revenue(stages)
    return Family(
        name="revenue",
        kinds="D",
        contribute=revenue.contribute,
        fields=(
            OPPORTUNITIES,
            WON,
            WON_AMOUNT,
            LOST,
            LOST_AMOUNT,
            CYCLES,
            CYCLE_SUM_US,
            PIPELINE_OPEN,
            ENTERED_STAGE,
            OPEN_BY_STAGE,
        ),  # fmt: skip
        paced=(WON, WON_AMOUNT),
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
        windowed=revenue.windowed,
        periodic=growth,
        live=revenue.live,
        extra=("salesfloor_deals_entered_stage", "salesfloor_won_amount_growth_ratio"),
        help={"salesfloor_pipeline_open_amount": "Amount of deals created and not yet won or lost."},
    )

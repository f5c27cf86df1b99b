"""Targets for any metric of SPEC §4.3: the latest `target.set` per team or rep, period and metric,
and the attainment of the KPI it names, in the window of its period (a day: `today`; a month: `month`)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache

from agents.kpis import activity, meetings, response, revenue
from agents.kpis.model import ALL, MICRO, ContributionBuilder, Entity, Family, PeriodContext, Series, latest

TARGET = "tv"  # the field in bucket p<period>:<metric> of the team (rep `_all`) or rep it was set for; a bucket
# a target, so that one target's bucket never mixes with another's (see `PartialAggregates.apply`)
METRICS: dict[str, tuple[str, int]] = {  # metric -> the field its KPI counts, and that field's scale
    "won_amount": (revenue.WON_AMOUNT, MICRO),
    "deals_won": (revenue.WON, 1),
    "opportunities_opened": (revenue.OPPORTUNITIES, 1),
    "calls_outbound": (activity.CALLS_OUTBOUND, 1),
    "calls_connected": (activity.CALLS_CONNECTED, 1),
    "emails_sent": (activity.EMAILS_SENT, 1),
    "meetings_held": (meetings.HELD, 1),
    "leads_responded": (response.RESPONDED, 1),
}


def contribute(entity: Entity, out: ContributionBuilder) -> None:
    """Set, never summed across levels: a team target is the team's own, not its reps' sum."""
    target = latest(entity.of("target.set"))
    if target is not None:
        metric = target.get("K", "won_amount")  # targets stored before metrics had names were won amounts
        out.set_exact(target["T"], target["R"] or ALL, period_bucket(target["P"], metric), TARGET, target.get("v", 0))


@lru_cache(maxsize=4096)  # a scrape asks for each metric of the same few periods, for every team/rep
def period_bucket(period: str, metric: str) -> str:
    return f"p{period}:{metric}"


def target(context: PeriodContext, metric: str) -> int | None:
    """The target (micro-units) set for this key, window period and metric."""
    return context.buckets.get(period_bucket(context.period, metric), {}).get(TARGET)


def series(context: PeriodContext) -> Iterator[Series]:
    if context.floor:
        return
    for metric, (field, scale) in METRICS.items():
        value = target(context, metric)
        if value is None:
            continue
        labels = {**context.labels, "metric": metric}
        yield "salesfloor_target_value", labels, value / MICRO
        if value > 0:
            yield "salesfloor_target_attainment_ratio", labels, context.acc.get(field, 0) / scale / (value / MICRO)
        if metric == "won_amount" and context.window == "month":
            yield "salesfloor_target_amount", context.labels, value / MICRO
            if value > 0:
                yield "salesfloor_quota_attainment_ratio", context.labels, context.acc.get(field, 0) / value


FAMILY = Family(
    name="targets",
    kinds="T",
    contribute=contribute,
    fields=(TARGET,),
    periodic=series,
    extra=(
        "salesfloor_target_value",
        "salesfloor_target_attainment_ratio",
        "salesfloor_target_amount",
        "salesfloor_quota_attainment_ratio",
    ),
)

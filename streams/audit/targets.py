"""Targets and growth in the reference computation: the ``won_amount`` month quota, the target of
every §4.3 metric for a day (window ``today``) or a month (window ``month``) and its attainment, and
the won amount's month-over-month growth on a local-calendar cut."""

from __future__ import annotations

import calendar
import math
from collections import defaultdict
from datetime import date, datetime, timedelta

from streams.audit.facts import Facts, Result, all_scopes, key, rollup
from streams.audit.views import UNASSIGNED, Views

# metric -> (fact, summed?): the KPI of that name is the count of the fact's values, or their sum
TARGET_METRICS: dict[str, tuple[str, bool]] = {
    "won_amount": ("won", True),
    "deals_won": ("won", False),
    "opportunities_opened": ("opened", False),
    "calls_outbound": ("calls_outbound", False),
    "calls_connected": ("calls_connected", False),
    "emails_sent": ("sent", False),
    "meetings_held": ("meetings_held", False),
    "leads_responded": ("response_us", False),
}


def metric_value(facts: Facts, metric: str, team: str, rep: str, window: str) -> float:
    fact, summed = TARGET_METRICS[metric]
    values = facts.get(fact, team, rep, window)
    return math.fsum(values) if summed else float(len(values))


def export_targets(views: Views, facts: Facts, result: Result) -> None:
    """Per rep and per team only (no floor series): the latest target of the window's own period."""
    windows = facts.windows
    for (team, rep, period, metric), e in views.targets.items():
        if metric not in TARGET_METRICS:
            continue
        if period == windows.today.isoformat():
            window = "today"
        elif period == windows.period:
            window = "month"
        else:
            continue
        target = float(e.get("value"))
        labels = {"team": team, "rep": rep, "window": window}
        result[key("salesfloor_target_value", metric=metric, **labels)] = target
        if target != 0:
            attained = metric_value(facts, metric, team, rep, window) / target
            result[key("salesfloor_target_attainment_ratio", metric=metric, **labels)] = attained
        if metric == "won_amount" and window == "month":  # the quota, as before issue 13
            result[key("salesfloor_target_amount", **labels)] = target
            if target != 0:
                result[key("salesfloor_quota_attainment_ratio", **labels)] = attained


# ----------------------------------------------------------------------------------------- growth


def _seconds_of_day(moment: datetime) -> int:
    """Local time of day in whole seconds, as the wall clock shows it."""
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def previous_cut(month: date, now_local: datetime) -> tuple[date, date | None, int]:
    """(first day of the previous month, the cut's local date or None for the whole month, the cut's
    second of the day). The month so far ends at now, or at its end for a past month."""
    previous = (month.replace(day=1) - timedelta(days=1)).replace(day=1)
    length = calendar.monthrange(previous.year, previous.month)[1]
    if (month.year, month.month) != (now_local.year, now_local.month):
        return previous, None, 0  # a past month so far is the whole month: so is the previous one
    days = now_local.day - 1
    if days >= length:
        return previous, None, 0  # clipped to the previous month's end
    return previous, previous + timedelta(days=days), _seconds_of_day(now_local)


def export_growth(
    views: Views, facts: Facts, now_local: datetime, scopes: set[tuple[str, str]], result: Result
) -> None:
    """won_amount_growth_ratio (window month; rep, team, floor): the month so far ÷ the previous
    month up to the same local-calendar offset − 1; not exported when the previous amount is 0."""
    month = facts.windows.today
    if (month.year, month.month) > (now_local.year, now_local.month):
        return  # a month that has not begun: nothing so far
    previous, cut_date, cut_second = previous_cut(month, now_local)
    zone = facts.windows.zone
    before: dict[tuple[str, str], list[float]] = defaultdict(list)
    for e in views.deal_events:
        if e.type != "deal.won":
            continue
        local = e.moment().astimezone(zone)
        if (local.year, local.month) != (previous.year, previous.month):
            continue
        if cut_date is not None:
            day = local.date()
            if day > cut_date or (day == cut_date and _seconds_of_day(local) >= cut_second):
                continue
        for scope in rollup(e.team, e.rep or UNASSIGNED):
            before[scope].append(float(e.get("amount")))
    for team, rep in all_scopes(scopes):
        previous_amount = math.fsum(before.get((team, rep), []))
        if previous_amount > 0:
            current = math.fsum(facts.get("won", team, rep, "month"))
            growth = current / previous_amount - 1
            result[key("salesfloor_won_amount_growth_ratio", team=team, rep=rep, window="month")] = growth

"""Achievements (SPEC §5b) in the reference computation: which goals are reached and which records
broken at a moment, from the KPIs the reference computes (``streams.audit.reference``), written from
the contract without the engine's code.

- A goal: a team's (rep ``_all``) or rep's ``salesfloor_target_attainment_ratio`` of the current
  period (window ``today``: the local date; ``month``: the local month) at or above a milestone.
- A record: a rep's value today of ``won_amount``, ``deals_won``, ``calls_outbound`` or
  ``meetings_held`` above their value on every earlier day since ``now − history_days`` (local
  dates), when at least 7 of those days have data (a non-zero value of any of the four).

Each is returned as its identity: ``("goal.reached", team, rep or None, metric, period, milestone)``
or ``("record.broken", team, rep, metric, day, None)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from streams.audit import reference
from streams.audit.views import ALL

RECORD_METRICS = ("won_amount", "deals_won", "calls_outbound", "meetings_held")
MIN_DAYS_WITH_DATA = 7

Identity = tuple[str, str, str | None, str, str, float | None]


def _by_scope(result: Mapping[Any, float], names: Iterable[str]) -> dict[tuple[str, str, str], float]:
    """(metric, team, rep) -> value of the ``today`` window series of those metrics."""
    wanted, out = set(names), {}
    for (name, labels), value in result.items():
        metric = name.removeprefix("salesfloor_")
        labels_map = dict(labels)
        if metric in wanted and labels_map.get("window") == "today" and len(labels_map) == 3:
            out[(metric, labels_map["team"], labels_map["rep"])] = value
    return out


def achievements(
    events: list[Mapping[str, Any]],
    *,
    now: datetime,
    tz: str = "UTC",
    milestones: Iterable[float] = (0.5, 1.0),
    history_days: float = 62.0,
) -> dict[Identity, float]:
    """Every achievement held at ``now``, with its value."""
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    result = reference.compute(events, now=now, tz=tz)
    found: dict[Identity, float] = {}
    for (name, labels), ratio in result.items():
        if name != "salesfloor_target_attainment_ratio":
            continue
        label = dict(labels)
        period = today.isoformat() if label["window"] == "today" else today.isoformat()[:7]
        value_key = ("salesfloor_target_value", labels)
        for milestone in milestones:
            if ratio >= milestone:
                rep = None if label["rep"] == ALL else label["rep"]
                found[("goal.reached", label["team"], rep, label["metric"], period, float(milestone))] = (
                    ratio * result[value_key]
                )

    first_day = (now - timedelta(days=history_days)).astimezone(zone).date()
    today_values = _by_scope(result, RECORD_METRICS)
    earlier: dict[date, dict[tuple[str, str, str], float]] = {}
    for day in _days_with_events(events, zone, first_day, today):
        earlier[day] = _by_scope(reference.compute(events, now=now, tz=tz, day=day), RECORD_METRICS)
    reps = {(team, rep) for _metric, team, rep in today_values if team != ALL and not rep.startswith("_")}
    for team, rep in sorted(reps):
        days = [
            values
            for values in earlier.values()
            if any(values.get((metric, team, rep), 0) for metric in RECORD_METRICS)
        ]
        if len(days) < MIN_DAYS_WITH_DATA:
            continue
        for metric in RECORD_METRICS:
            value = today_values.get((metric, team, rep), 0.0)
            if value > max(values.get((metric, team, rep), 0.0) for values in days):
                found[("record.broken", team, rep, metric, today.isoformat(), None)] = value
    return found


def _days_with_events(events: Iterable[Mapping[str, Any]], zone: ZoneInfo, first: date, today: date) -> list[date]:
    days = set()
    for event in events:
        try:
            moment = datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00"))
        except (KeyError, ValueError):
            continue
        local = moment.astimezone(zone).date()
        if first <= local < today:
            days.add(local)
    return sorted(days)

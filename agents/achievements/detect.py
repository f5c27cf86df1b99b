"""What a team or rep has achieved now (SPEC §5b), from the buckets of their aggregates: pure, no I/O.

- A goal: the attainment of a target of the current period (today's date, this month) reaches a
  milestone. Its value and target are the ones `salesfloor_target_attainment_ratio` is computed from.
- A record: a rep's value today of one of `RECORD_METRICS` exceeds every earlier day of the history
  (`SALESFLOOR_HISTORY_DAYS` back, today excluded), given at least `MIN_RECORD_DAYS` earlier days with
  data: days on which the rep has a non-zero value of any record metric.

Each achievement has an identity (`Achievement.identity`) that is announced at most once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agents.kpis.model import ALL, MICRO, BucketClock, Fields
from agents.kpis.targets import METRICS, TARGET, period_bucket
from agents.kpis.windows import Horizon, sum_fields, window_buckets

GOAL, RECORD = "goal.reached", "record.broken"
RECORD_METRICS = ("won_amount", "deals_won", "calls_outbound", "meetings_held")
MIN_RECORD_DAYS = 7

Identity = tuple[str, ...]  # type, team, rep ("" for a team), metric, period or day[, milestone]


@dataclass(frozen=True)
class Achievement:
    type: str
    team: str
    rep: str | None  # None: the team's own goal
    metric: str
    period: str  # a goal's period (YYYY-MM-DD or YYYY-MM), a record's day (YYYY-MM-DD)
    value: float
    milestone: float = 0.0  # goals
    target: float = 0.0  # goals
    previous_best: float = 0.0  # records

    @property
    def identity(self) -> Identity:
        return identity_of(self.type, self.team, self.rep, self.metric, self.period, self.milestone)

    @property
    def key(self) -> bytes:
        """The message key of SPEC §5b: `team_id/rep_id` (an empty rep for a team)."""
        return f"{self.team}/{self.rep or ''}".encode()

    def message(self, detected_at: str) -> dict[str, Any]:
        base = {"type": self.type, "team_id": self.team, "rep_id": self.rep, "metric": self.metric}
        if self.type == GOAL:
            return {
                **base,
                "period": self.period,
                "milestone": self.milestone,
                "value": self.value,
                "target": self.target,
                "detected_at": detected_at,
            }
        return {
            **base,
            "day": self.period,
            "value": self.value,
            "previous_best": self.previous_best,
            "detected_at": detected_at,
        }


def identity_of(kind: str, team: str, rep: str | None, metric: str, period: str, milestone: float) -> Identity:
    if kind == GOAL:
        return (kind, team, rep or "", metric, period, repr(float(milestone)))
    return (kind, team, rep or "", metric, period)


def identity_of_message(message: Mapping[str, Any]) -> Identity:
    """The identity of a message read back from the achievements topic (KeyError/TypeError/ValueError
    on a foreign record)."""
    kind = message["type"]
    if kind not in (GOAL, RECORD):
        raise ValueError(kind)
    period = message["period"] if kind == GOAL else message["day"]
    milestone = float(message["milestone"]) if kind == GOAL else 0.0
    return identity_of(kind, str(message["team_id"]), message["rep_id"], str(message["metric"]), str(period), milestone)


def achieved(
    team: str,
    rep: str,
    buckets: Mapping[str, Fields],
    *,
    now_us: int,
    clock: BucketClock,
    milestones: tuple[float, ...],
    history_days: float,
) -> Iterator[Achievement]:
    """Every achievement the team (rep `_all`) or rep holds now; the floor and `_`-reps hold none."""
    if team == ALL or (rep != ALL and rep.startswith("_")):
        return
    today = clock.day(now_us)[1:]
    for window, period in (("today", today), ("month", today[:7])):
        acc: dict[str, int] | None = None
        for metric, (field, scale) in METRICS.items():
            target = buckets.get(period_bucket(period, metric), {}).get(TARGET)
            if not target or target <= 0:
                continue
            if acc is None:
                acc = sum_fields(buckets, window_buckets(window, now_us, clock))
            value, target_value = acc.get(field, 0) / scale, target / MICRO
            attainment = value / target_value  # as salesfloor_target_attainment_ratio
            for milestone in milestones:
                if attainment >= milestone:
                    yield Achievement(
                        GOAL,
                        team,
                        None if rep == ALL else rep,
                        metric,
                        period,
                        value,
                        milestone=milestone,
                        target=target_value,
                    )
    if rep != ALL:
        yield from records(team, rep, buckets, today, Horizon.history(now_us, history_days, clock).first_day)


def records(team: str, rep: str, buckets: Mapping[str, Fields], today: str, first_day: str) -> Iterator[Achievement]:
    """Today's values above the rep's best earlier day since `first_day` (`dYYYY-MM-DD`)."""
    current = buckets.get("d" + today)
    if not current:
        return
    fields = [METRICS[metric] for metric in RECORD_METRICS]
    earlier = [
        day_fields
        for name, day_fields in buckets.items()
        if name[0] == "d" and first_day <= name < "d" + today and any(day_fields.get(f, 0) for f, _ in fields)
    ]
    if len(earlier) < MIN_RECORD_DAYS:
        return
    for metric, (field, scale) in zip(RECORD_METRICS, fields, strict=True):
        value = current.get(field, 0)
        best = max(day_fields.get(field, 0) for day_fields in earlier)
        if value > best:
            yield Achievement(RECORD, team, rep, metric, today, value / scale, previous_best=best / scale)

"""The floor's targets (`target.set`, SPEC §4.3), apart from the activity they measure: what a rep is
expected to do per working day and month on this floor's rates, as monthly targets per rep and team and
daily activity targets, each set at the start of its period in the business time zone."""

from __future__ import annotations

import calendar
import math
from datetime import date, datetime, time, timedelta
from typing import Final

from streams.sim.catalog import COLD_CONNECT, DAILY_METRICS, MEAN_CONTACTS, TARGET_METRICS, WARM_CONNECT
from streams.sim.clock import to_ms
from streams.sim.config import FloorConfig
from streams.sim.engine import FloorEngine
from streams.sim.meetings import HELD_SHARE, PROSPECT_DEAL_SHARE

_CALLED_IN: Final = 0.07  # leads whose first contact is their own inbound call (inbound_phone, 70 %)
_OFF_HOURS: Final = 0.5  # business-hours equivalents reps work outside business hours on a weekday


def working_days(cfg: FloorConfig, year: int, month: int) -> tuple[int, int]:
    """(working days, days) of a calendar month: weekdays, or every day without day/night rhythm."""
    days = calendar.monthrange(year, month)[1]
    if not cfg.diurnal:
        return days, days
    return sum(1 for d in range(1, days + 1) if date(year, month, d).weekday() < 5), days


def lead_volume(cfg: FloorConfig) -> tuple[float, float]:
    """Leads per team on a working day and on another day."""
    rate = cfg.lead_rate * cfg.intensity
    if not cfg.diurnal:
        return 24 * rate, 24 * rate
    opens, closes = cfg.business_hours
    evening = max(0, 22 - closes)
    night = 24 - (closes - opens) - evening
    weekday = (closes - opens) + evening * min(1.0, 2 * cfg.night_factor) + night * cfg.night_factor
    return weekday * rate, 24 * cfg.weekend_factor * rate


def expected_per_rep(cfg: FloorConfig, year: int, month: int) -> tuple[dict[str, float], dict[str, float]]:
    """What an average rep does on this floor: (per working day, in the month) for every target metric."""
    reps = cfg.reps_per_team
    workdays, days = working_days(cfg, year, month)
    on_workday, off_day = lead_volume(cfg)
    leads_month = workdays * on_workday + (days - workdays) * off_day
    load = leads_month / max(workdays, 1) / reps  # leads per rep and working day (weekend ones on Monday)
    answered = cfg.answered_share
    hours = (cfg.business_hours[1] - cfg.business_hours[0] + _OFF_HOURS) if cfg.diurnal else 24.0
    warm_calls = answered * ((1 - _CALLED_IN) * 0.65 + (MEAN_CONTACTS - 1) * 0.55)
    warm_emails = answered * ((1 - _CALLED_IN) * 0.35 + (MEAN_CONTACTS - 1) * 0.45)
    cold_calls = cfg.prospect_calls_per_hour * cfg.intensity * hours
    prospect_meetings = cfg.prospect_meetings_per_day * cfg.intensity
    meetings = prospect_meetings + load * answered * cfg.meeting_share
    day = {
        "calls_outbound": cold_calls + load * warm_calls,
        "calls_connected": cold_calls * COLD_CONNECT + load * warm_calls * WARM_CONNECT,
        "emails_sent": cfg.prospect_emails_per_hour * cfg.intensity * hours + load * warm_emails,
        "meetings_held": meetings * HELD_SHARE,
        "leads_responded": load * answered,
        "opportunities_opened": load * answered * cfg.conversion + prospect_meetings * HELD_SHARE * PROSPECT_DEAL_SHARE,
    }
    day["deals_won"] = day["opportunities_opened"] * cfg.win_rate
    day["won_amount"] = day["deals_won"] * cfg.deal_median * math.exp(cfg.deal_sigma**2 / 2)
    return day, {metric: value * workdays for metric, value in day.items()}


def _rounded(metric: str, value: float) -> float:
    """A target as sales ops would write it: whole thousands of money, round numbers of activities."""
    if metric == "won_amount":
        return max(1000.0, round(value / 1000) * 1000)
    if metric in ("calls_outbound", "emails_sent") and value >= 20:
        return float(max(5, round(value / 5) * 5))
    return float(max(1, round(value)))


class Targets(FloorEngine):
    """Monthly targets for every SPEC §4.3 metric per rep and team, set at the start and at each month's
    start; daily activity targets per rep and team at the start of each working day. Ramping reps (about
    one in eight, drawn per floor) carry 50-80 % of a full target; a team's target is the sum of its reps'."""

    def _set(self, at: int, period: str, values: dict[str, float], metrics: tuple[str, ...]) -> None:
        for team in self.teams:
            totals = dict.fromkeys(metrics, 0.0)
            for rep in team.reps:
                for metric in metrics:
                    value = _rounded(metric, values[metric] * rep.ramp)
                    totals[metric] += value
                    self._emit(at, "target.set", team.id, rep.id, period=period, metric=metric, value=value)
            for metric in metrics:
                self._emit(at, "target.set", team.id, None, period=period, metric=metric, value=totals[metric])

    def _monthly_targets(self, at: int) -> None:
        local = datetime.fromtimestamp(at / 1000, self.zone)
        _, month = expected_per_rep(self.cfg, local.year, local.month)
        self._set(at, f"{local.year:04d}-{local.month:02d}", month, TARGET_METRICS)
        year, next_month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        self._push(to_ms(datetime(year, next_month, 1, tzinfo=self.zone)), self._monthly_targets)

    def _daily_targets(self, at: int) -> None:
        local = datetime.fromtimestamp(at / 1000, self.zone)
        if self.day.is_working_day(at):
            day, _ = expected_per_rep(self.cfg, local.year, local.month)
            self._set(at, local.date().isoformat(), day, DAILY_METRICS)
        tomorrow = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=self.zone)
        self._push(to_ms(tomorrow), self._daily_targets)

"""A simulated sales floor: a seeded, streamed, realistic SPEC §2 event source for tests, benchmarks and the
demo, and its delivery to Kafka (`produce`) with the CLI plumbing for `simulate` and `produce`."""

from __future__ import annotations

import argparse
import asyncio
import heapq
import logging
import math
import random
import sys
import time
from bisect import bisect
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
)
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache, partial
from itertools import accumulate
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from streams.distort import (
    KEY_MODES,
    Distorter,
    EventDict,
    ProduceStats,
    adistort,
    distort,
    distort_labeled,
    key_for_value,
    produce,
    read_jsonl,
    topic_for_value,
    write_jsonl,
)
from streams.settings import Settings

__all__ = [
    "FloorConfig", "ProduceStats", "generate", "generate_realtime", "realtime_config", "events_per_second",
    "distort", "distort_labeled", "Distorter",
    "write_jsonl", "read_jsonl", "topic_for_value", "key_for_value", "produce",
    "configure_simulate", "run_simulate", "configure_produce", "run_produce",
]

log = logging.getLogger(__name__)

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_HOUR: Final = 3_600_000
_DAY: Final = 86_400_000
_SPEED_SIGMA: Final = 0.5
_BUCKET: Final = 900_000  # local-time lookups per quarter hour (every UTC offset is a multiple of it)

TEAM_NAMES: Final = ("north", "south", "east", "west", "central", "coast", "metro", "alpine", "delta",
                     "harbor", "valley", "summit")
SOURCES: Final = ("inbound_web", "outbound", "referral", "inbound_phone", "event", "partner", "other")
_SOURCE_WEIGHTS: Final = (40, 22, 12, 10, 7, 6, 3)
_SOURCE_CONVERSION: Final = {"inbound_web": 1.0, "outbound": 0.6, "referral": 1.8, "inbound_phone": 1.4,
                             "event": 0.9, "partner": 1.3, "other": 0.8}
_MEAN_SOURCE_CONVERSION: Final = sum(
    w * _SOURCE_CONVERSION[s] for s, w in zip(SOURCES, _SOURCE_WEIGHTS, strict=True)) / sum(_SOURCE_WEIGHTS)
OUTCOMES: Final = ("connected", "no_answer", "voicemail", "busy", "failed")
_WARM_OUTCOMES: Final = (32, 34, 20, 7, 7)
_COLD_OUTCOMES: Final = (15, 45, 25, 8, 7)
_CONTACT_COUNTS: Final = (1, 2, 3, 4, 5, 6)
_CONTACT_WEIGHTS: Final = (25, 25, 20, 14, 10, 6)
DQ_REASONS: Final = ("spam", "duplicate", "not_a_fit", "no_budget", "student", "wrong_contact")
LOST_REASONS: Final = ("price", "competitor", "no_budget", "timing", "no_decision", "went_dark")


def _cum(weights: tuple[int, ...]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(c / total for c in accumulate(weights))


_SOURCE_CUM: Final = _cum(_SOURCE_WEIGHTS)
_WARM_CUM: Final = _cum(_WARM_OUTCOMES)
_COLD_CUM: Final = _cum(_COLD_OUTCOMES)
_CONTACT_CUM: Final = _cum(_CONTACT_WEIGHTS)


def to_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime, exactly (no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


@lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat() + "T"


def iso_ms(ms: int) -> str:
    """RFC 3339 in UTC with milliseconds and `Z`, fast (the generator formats every event)."""
    day, rest = divmod(ms, _DAY)
    hours, rest = divmod(rest, _HOUR)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{_day_prefix(day)}{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"


@dataclass(frozen=True, kw_only=True)
class FloorConfig:
    """What shapes one simulated floor; equal configs give byte-identical streams."""

    start: datetime
    end: datetime
    seed: int = 0
    teams: int = 3
    reps_per_team: int = 8
    tz: str = "UTC"
    currency: str = "EUR"
    lead_rate: float = 6.0  # leads per hour per team in weekday business hours
    night_factor: float = 0.15  # lead-rate multiplier at night (evenings get twice that)
    weekend_factor: float = 0.2
    business_hours: tuple[int, int] = (8, 18)
    diurnal: bool = True  # False: business-hours activity around the clock (the real-time demo)
    intensity: float = 1.0  # multiplies every activity rate
    prospect_calls_per_hour: float = 3.0  # per rep, business hours, no lead
    prospect_emails_per_hour: float = 2.0  # per rep, business hours, no lead
    inbound_calls_per_hour: float = 0.6  # per team, general line, no lead
    unassigned_share: float = 0.10
    reassign_share: float = 0.05
    unanswered_share: float = 0.10
    disqualified_share: float = 0.05
    disqualified_before_contact: float = 0.4  # of the disqualified leads
    response_median_s: float = 180.0
    response_p90_s: float = 3600.0
    conversion: float = 0.20  # of answered leads
    win_rate: float = 0.35
    deal_median: float = 5000.0
    deal_sigma: float = 0.9
    cycle_median_days: float = 12.0
    backlog_days: float = 30.0
    max_events: int | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must be aware datetimes")
        if self.end < self.start:
            raise ValueError(f"end {self.end.isoformat()} is before start {self.start.isoformat()}")
        if not 1 <= self.teams <= 100 or not 1 <= self.reps_per_team <= 999:
            raise ValueError("teams must be 1..100 and reps_per_team 1..999")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {self.tz!r}") from exc
        for name in ("unassigned_share", "reassign_share", "unanswered_share", "disqualified_share",
                     "disqualified_before_contact", "conversion", "win_rate", "night_factor",
                     "weekend_factor"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.unanswered_share + self.disqualified_share >= 1.0:
            raise ValueError("unanswered_share + disqualified_share must stay below 1")
        if min(self.lead_rate, self.intensity, self.prospect_calls_per_hour, self.prospect_emails_per_hour,
               self.inbound_calls_per_hour, self.backlog_days) < 0:
            raise ValueError("rates, intensity and backlog_days must not be negative")
        opens, closes = self.business_hours
        if not (0 < self.response_median_s < self.response_p90_s and self.deal_median > 0
                and self.cycle_median_days > 0 and 0 <= opens < closes <= 24):
            raise ValueError("medians must be positive, p90 above the median, business hours within a day")
        if self.max_events is not None and self.max_events < 0:
            raise ValueError("max_events must not be negative")

    @property
    def mean_lead_profile(self) -> float:
        """Average of the lead-arrival profile over a week (1.0 without day/night rhythm)."""
        if not self.diurnal:
            return 1.0
        start, stop = self.business_hours
        evening = max(0, 22 - stop)
        night = 24 - (stop - start) - evening
        weekday = (stop - start) + evening * min(1.0, 2 * self.night_factor) + night * self.night_factor
        return (5 * weekday + 2 * 24 * self.weekend_factor) / (7 * 24)

    @property
    def answered_share(self) -> float:
        """Share of leads that get at least one contact."""
        return 1.0 - self.unanswered_share - self.disqualified_share * self.disqualified_before_contact


@dataclass(slots=True)
class _Rep:
    id: str
    speed: float  # multiplies response delays
    skill: float  # multiplies conversion and win probability


@dataclass(slots=True)
class _Team:
    id: str
    reps: list[_Rep]


class _Floor:
    """The discrete-event engine: a heap of future events and processes, popped in time order."""

    def __init__(self, cfg: FloorConfig) -> None:
        self.cfg = cfg
        self.start = -(-(cfg.start - _EPOCH) // timedelta(milliseconds=1))  # first whole ms >= start
        self.end = to_ms(cfg.end)
        self.rng = random.Random(f"salesfloor:{cfg.seed}:{self.start}")  # noqa: S311 - simulation
        self.zone = ZoneInfo(cfg.tz)
        self.heap: list[tuple[int, int, Any]] = []
        self.seq = 0
        self.run = f"{self.rng.getrandbits(24):06x}"
        self.counters = {"lead": 0, "deal": 0, "call": 0, "email": 0, "past": 0}
        self.local_cache: dict[int, tuple[int, int]] = {}
        self.work_start_cache: dict[int, int] = {}
        sigma = math.log(cfg.response_p90_s / cfg.response_median_s) / 1.2815515655446004
        self.response_sigma = math.sqrt(max(sigma**2 - _SPEED_SIGMA**2, 0.01))  # reps' speeds add spread
        self.teams = [self._make_team(i) for i in range(cfg.teams)]
        self.per_ms = cfg.intensity / _HOUR
        self._push(self.start, self._targets)
        for team in self.teams:
            self._backlog(team)
        for team in self.teams:
            per_team = len(team.reps) * self.per_ms
            self._process(team, self._lead_arrival, cfg.lead_rate * self.per_ms, self.start)
            self._process(team, self._prospect_call, cfg.prospect_calls_per_hour * per_team, self.start)
            self._process(team, self._prospect_email, cfg.prospect_emails_per_hour * per_team, self.start)
            self._process(team, self._inbound_call, cfg.inbound_calls_per_hour * self.per_ms, self.start)

    def _make_team(self, i: int) -> _Team:
        name = TEAM_NAMES[i] if i < len(TEAM_NAMES) else f"t{i + 1:02d}"
        rng = self.rng
        reps = [_Rep(f"rep-{name}-{j + 1:02d}", speed=math.exp(rng.gauss(0, _SPEED_SIGMA)),
                     skill=math.exp(rng.gauss(0, 0.25))) for j in range(self.cfg.reps_per_team)]
        return _Team(f"team-{name}", reps)

    # --- engine -------------------------------------------------------------------------------------

    def _push(self, at: int, item: Any) -> None:
        if at <= self.end:
            heapq.heappush(self.heap, (at, self.seq, item))
            self.seq += 1

    def _emit(self, at: int, kind: str, team: str, rep: str | None, **fields: Any) -> None:
        """Schedule an event; its event_id and occurred_at are filled in when it is popped."""
        if at <= self.end:
            self._push(at, {"event_id": "", "type": kind, "occurred_at": "", "team_id": team, "rep_id": rep,
                            **fields})

    def _process(self, team: _Team, step: Callable[[_Team, float, int], None], rate: float,
                 after: int) -> None:
        """Schedule the next step of a Poisson process (thinned by the time-of-day profile when it runs)."""
        if rate > 0:
            self._push(after + int(self.rng.expovariate(rate)) + 1, partial(step, team, rate))

    def __iter__(self) -> Iterator[EventDict]:
        heap, rng, limit = self.heap, self.rng, self.cfg.max_events
        count = 0
        if limit == 0:
            return
        while heap:
            at, _, item = heapq.heappop(heap)
            if type(item) is dict:
                bits = (rng.getrandbits(128) & _UUID_CLEAR) | _UUID_SET
                h = f"{bits:032x}"
                item["event_id"] = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
                item["occurred_at"] = iso_ms(at)
                yield item
                count += 1
                if count == limit:
                    return
            else:
                item(at)

    # --- time of day ----------------------------------------------------------------------------------

    def _local(self, at: int) -> tuple[int, int]:
        bucket = at // _BUCKET
        hit = self.local_cache.get(bucket)
        if hit is None:
            moment = datetime.fromtimestamp(bucket * (_BUCKET // 1000), self.zone)
            hit = self.local_cache[bucket] = (moment.weekday(), moment.hour)
        return hit

    def _lead_profile(self, at: int) -> float:
        cfg = self.cfg
        if not cfg.diurnal:
            return 1.0
        weekday, hour = self._local(at)
        if weekday >= 5:
            return cfg.weekend_factor
        if cfg.business_hours[0] <= hour < cfg.business_hours[1]:
            return 1.0
        return min(1.0, 2 * cfg.night_factor) if cfg.business_hours[1] <= hour < 22 else cfg.night_factor

    def _is_work(self, at: int) -> bool:
        if not self.cfg.diurnal:
            return True
        weekday, hour = self._local(at)
        return weekday < 5 and self.cfg.business_hours[0] <= hour < self.cfg.business_hours[1]

    def _work_profile(self, at: int) -> float:
        if self._is_work(at):
            return 1.0
        weekday, hour = self._local(at)
        return 0.05 if weekday < 5 and hour < 21 else 0.01  # a few reps work late, almost nobody at night

    def _work_time(self, at: int) -> int:
        """Reps mostly act in business hours: off-hours actions usually slip to the next morning."""
        if self._is_work(at) or self.rng.random() < 0.2:
            return at
        bucket = at // _BUCKET
        opens = self.work_start_cache.get(bucket)
        if opens is None:
            probe = bucket + 1
            while not self._is_work(probe * _BUCKET) and probe - bucket < 4 * 24 * 8:
                probe += 1
            opens = self.work_start_cache[bucket] = probe * _BUCKET
        return opens + int(self.rng.uniform(0, 45 * 60_000))

    # --- randomness helpers ---------------------------------------------------------------------------

    def _lognormal_ms(self, median_ms: float, sigma: float) -> int:
        return max(1, int(median_ms * math.exp(self.rng.gauss(0.0, sigma))))

    def _amount(self) -> float:
        value = self.cfg.deal_median * math.exp(self.rng.gauss(0.0, self.cfg.deal_sigma))
        return round(min(max(value, 100.0), 5e7), 2)

    def _next_id(self, kind: str) -> str:
        self.counters[kind] += 1
        return f"{kind}-{self.run}-{self.counters[kind]:07d}"

    # --- processes ------------------------------------------------------------------------------------

    def _targets(self, at: int) -> None:
        """Monthly won-amount targets per rep and team, set at the start and at each month's start."""
        cfg, rng = self.cfg, self.rng
        local = datetime.fromtimestamp(at / 1000, self.zone)
        period = f"{local.year:04d}-{local.month:02d}"
        leads_month = cfg.lead_rate * cfg.intensity * 24 * 30.4 * cfg.mean_lead_profile
        mean_amount = cfg.deal_median * math.exp(cfg.deal_sigma ** 2 / 2)
        team_won = leads_month * cfg.answered_share * cfg.conversion * cfg.win_rate * mean_amount
        for team in self.teams:
            per_rep = team_won / len(team.reps)
            total = 0.0
            for rep in team.reps:
                value = max(1000.0, round(per_rep * math.exp(rng.gauss(0.0, 0.15)) / 1000) * 1000)
                total += value
                self._emit(at, "target.set", team.id, rep.id, period=period, metric="won_amount", value=value)
            self._push(at, {"event_id": "", "type": "target.set", "occurred_at": "", "team_id": team.id,
                            "period": period, "metric": "won_amount", "value": total})  # no rep: team target
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        self._push(to_ms(datetime(year, month, 1, tzinfo=self.zone)), self._targets)

    def _backlog(self, team: _Team) -> None:
        """Deals opened in the month before `start` and still open then: they win or lose in the period."""
        cfg, rng = self.cfg, self.rng
        rate = cfg.lead_rate * cfg.answered_share * cfg.conversion * self.per_ms
        if rate <= 0 or cfg.backlog_days <= 0:
            return
        at = self.start - int(cfg.backlog_days * _DAY)
        while True:
            at += int(rng.expovariate(rate)) + 1
            if at >= self.start:
                return
            if rng.random() >= self._lead_profile(at):
                continue
            closes = at + self._lognormal_ms(cfg.cycle_median_days * _DAY, 0.9)
            if closes < self.start:
                continue
            rep = team.reps[rng.randrange(len(team.reps))]
            lead = None
            if rng.random() < 0.8:
                self.counters["past"] += 1
                lead = f"lead-{self.run}-p{self.counters['past']:06d}"
            self._deal(team, rep, at, lead, closes=max(self.start, self._work_time(closes)))

    def _lead_arrival(self, team: _Team, rate: float, at: int) -> None:
        if self.rng.random() < self._lead_profile(at):
            self._lead(team, at)
        self._process(team, self._lead_arrival, rate, at)

    def _prospect_call(self, team: _Team, rate: float, at: int) -> None:
        rng = self.rng
        if rng.random() < self._work_profile(at):
            self._call(team.id, team.reps[rng.randrange(len(team.reps))].id, at, None, "outbound", warm=False)
        self._process(team, self._prospect_call, rate, at)

    def _prospect_email(self, team: _Team, rate: float, at: int) -> None:
        rng = self.rng
        if rng.random() < self._work_profile(at):
            self._email(team.id, team.reps[rng.randrange(len(team.reps))].id, at, None, warm=False)
        self._process(team, self._prospect_email, rate, at)

    def _inbound_call(self, team: _Team, rate: float, at: int) -> None:
        rng = self.rng
        if rng.random() < self._work_profile(at):
            self._call(team.id, team.reps[rng.randrange(len(team.reps))].id, at, None, "inbound", warm=True)
        self._process(team, self._inbound_call, rate, at)

    # --- entities -------------------------------------------------------------------------------------

    def _lead(self, team: _Team, created: int) -> None:
        """One lead's whole life, scheduled at once: assignment, contacts, disqualification, conversion."""
        cfg, rng, reps = self.cfg, self.rng, team.reps
        lead = self._next_id("lead")
        source = SOURCES[bisect(_SOURCE_CUM, rng.random())]
        owner = reps[rng.randrange(len(reps))]
        ready = created
        if rng.random() < cfg.unassigned_share:
            ready = self._work_time(created + self._lognormal_ms(15 * 60_000, 1.0))
            self._emit(created, "lead.created", team.id, None, lead_id=lead, source=source)
            self._emit(ready, "lead.assigned", team.id, owner.id, lead_id=lead)
        else:
            self._emit(created, "lead.created", team.id, owner.id, lead_id=lead, source=source)
        owners = [(ready, owner)]
        if len(reps) > 1 and rng.random() < cfg.reassign_share:
            moved = ready + self._lognormal_ms(2 * _HOUR, 1.0)
            other = reps[(reps.index(owner) + rng.randrange(1, len(reps))) % len(reps)]
            self._emit(moved, "lead.assigned", team.id, other.id, lead_id=lead)
            owners.append((moved, other))

        def owner_at(at: int) -> _Rep:
            return owners[-1][1] if at >= owners[-1][0] else owners[0][1]

        fate = rng.random()
        dq_early = cfg.disqualified_share * cfg.disqualified_before_contact
        if fate < dq_early:
            when = ready + self._lognormal_ms(45 * 60_000, 1.0)
            self._emit(when, "lead.disqualified", team.id, owner_at(when).id, lead_id=lead,
                       reason=rng.choice(DQ_REASONS))
            return
        if fate < dq_early + cfg.unanswered_share:
            return  # never answered
        count = _CONTACT_COUNTS[bisect(_CONTACT_CUM, rng.random())]
        times: list[int] = []
        called_in = source == "inbound_phone" and rng.random() < 0.7
        if called_in:
            talk = self._talk_seconds()  # the lead called in: that call is its first contact
            first = created + talk * 1000
            self._emit(first, "call.completed", team.id, owner_at(first).id, call_id=self._next_id("call"),
                       direction="inbound", outcome="connected", duration_s=talk, lead_id=lead)
            times.append(first)
        else:
            delay = cfg.response_median_s * 1000 * owner_at(ready).speed
            times.append(self._work_time(ready + self._lognormal_ms(delay, self.response_sigma)))
        while len(times) < count:
            times.append(self._work_time(times[-1] + self._lognormal_ms(3 * _HOUR, 1.0)))
        answered = 1.0 - dq_early - cfg.unanswered_share
        dq_late = rng.random() < cfg.disqualified_share * (1 - cfg.disqualified_before_contact) / answered
        if dq_late:
            times = times[: rng.randint(1, len(times))]
            when = times[-1] + self._lognormal_ms(_HOUR, 1.0)
            self._emit(when, "lead.disqualified", team.id, owner_at(when).id, lead_id=lead,
                       reason=rng.choice(DQ_REASONS))
        for i, at in enumerate(times):
            if i == 0 and called_in:
                continue
            rep = owner_at(at).id
            if rng.random() < (0.65 if i == 0 else 0.55):
                self._call(team.id, rep, at, lead, "outbound", warm=True)
            else:
                self._email(team.id, rep, at, lead, warm=True)
        if rng.random() < 0.12:  # the lead calls back later: a contact only when someone picks up
            at = self._work_time(times[0] + self._lognormal_ms(_DAY, 1.0))
            self._call(team.id, owner_at(at).id, at, lead, "inbound", warm=True)
        source_factor = _SOURCE_CONVERSION[source] / _MEAN_SOURCE_CONVERSION
        converts = min(0.9, cfg.conversion * source_factor * owner.skill)
        if not dq_late and rng.random() < converts:
            at = self._work_time(times[rng.randrange(len(times))] + self._lognormal_ms(90 * 60_000, 1.0))
            self._deal(team, owner_at(at), at, lead)

    def _talk_seconds(self) -> int:
        return min(86_400, max(5, int(240 * math.exp(self.rng.gauss(0.0, 0.8)))))

    def _call(self, team: str, rep: str, at: int, lead: str | None, direction: str, *, warm: bool) -> None:
        rng = self.rng
        if direction == "inbound":
            roll = rng.random()
            outcome = "connected" if roll < 0.65 else "no_answer" if roll < 0.9 else "voicemail"
        else:
            outcome = OUTCOMES[bisect(_WARM_CUM if warm else _COLD_CUM, rng.random())]
        if outcome == "connected":
            duration = self._talk_seconds()
        elif outcome == "voicemail":
            duration = rng.randint(12, 75)
        else:
            duration = 0
        fields: dict[str, Any] = {"call_id": self._next_id("call"), "direction": direction,
                                  "outcome": outcome, "duration_s": duration}
        if lead is not None:
            fields["lead_id"] = lead
        self._emit(at + duration * 1000, "call.completed", team, rep, **fields)

    def _email(self, team: str, rep: str, at: int, lead: str | None, *, warm: bool) -> None:
        """A sent email and what its recipient does with it: opens (often several), clicks, replies."""
        rng = self.rng
        email = self._next_id("email")
        extra: dict[str, Any] = {"lead_id": lead} if lead is not None else {}
        self._emit(at, "email.sent", team, rep, email_id=email, **extra)
        if rng.random() < (0.6 if warm else 0.3):
            opened = at + self._lognormal_ms(40 * 60_000, 1.5)
            self._emit(opened, "email.opened", team, rep, email_id=email, **extra)
            again = opened
            while rng.random() < 0.4:
                again += self._lognormal_ms(3 * _HOUR, 1.2)
                self._emit(again, "email.opened", team, rep, email_id=email, **extra)
            if rng.random() < (0.25 if warm else 0.08):
                self._emit(opened + self._lognormal_ms(90_000, 1.0), "email.clicked", team, rep,
                           email_id=email, **extra)
            if rng.random() < (0.3 if warm else 0.06):
                self._emit(opened + self._lognormal_ms(_HOUR, 1.3), "email.replied", team, rep,
                           email_id=email, **extra)
        elif rng.random() < 0.03:  # replied, but the open pixel was blocked
            self._emit(at + self._lognormal_ms(2 * _HOUR, 1.3), "email.replied", team, rep, email_id=email,
                       **extra)

    def _deal(self, team: _Team, rep: _Rep, at: int, lead: str | None, *, closes: int | None = None) -> None:
        """An opportunity and its outcome after a sales cycle of days to weeks."""
        cfg, rng = self.cfg, self.rng
        amount = self._amount()
        extra: dict[str, Any] = {}
        if lead is not None:
            extra["lead_id"] = lead
        if rng.random() < 0.5:
            extra["currency"] = cfg.currency
        deal = self._next_id("deal")
        self._emit(at, "deal.created", team.id, rep.id, deal_id=deal, amount=amount, **extra)
        if closes is None:
            closes = self._work_time(at + self._lognormal_ms(cfg.cycle_median_days * _DAY, 0.9))
        if rng.random() < min(0.9, cfg.win_rate * rep.skill):
            final = amount if rng.random() < 0.7 else round(amount * rng.uniform(0.8, 1.15), 2)
            self._emit(closes, "deal.won", team.id, rep.id, deal_id=deal, amount=final, **extra)
            return
        if rng.random() < 0.6:
            extra["amount"] = amount
        if rng.random() < 0.8:
            extra["reason"] = rng.choice(LOST_REASONS)
        self._emit(closes, "deal.lost", team.id, rep.id, deal_id=deal, **extra)


_UUID_CLEAR: Final = ~((0xF << 76) | (0x3 << 62))
_UUID_SET: Final = (0x4 << 76) | (0x2 << 62)


def generate(cfg: FloorConfig) -> Iterator[EventDict]:
    """A deterministic, realistic, time-ordered stream of valid events, in bounded memory.

    The backlog's `deal.created` events are dated before `start` (and come first); nothing is after `end`.
    """
    return iter(_Floor(cfg))


# --- real time -----------------------------------------------------------------------------------------

_CALIBRATION_START: Final = datetime(2026, 1, 5, tzinfo=timezone.utc)  # a Monday


@lru_cache(maxsize=16)
def events_per_second(cfg: FloorConfig) -> float:
    """Average event rate of a floor at intensity 1 (measured on a simulated week, backlog excluded)."""
    days = 7 if cfg.diurnal else 1
    probe = replace(cfg, start=_CALIBRATION_START, intensity=1.0, backlog_days=0, max_events=None,
                    end=_CALIBRATION_START + timedelta(days=days + 1))
    warm_up = to_ms(_CALIBRATION_START + timedelta(days=1))
    counted = sum(1 for event in generate(probe) if event["occurred_at"] >= iso_ms(warm_up))
    return max(counted, 1) / (days * 86400)


def realtime_config(cfg: FloorConfig, rate: float | None) -> FloorConfig:
    """The demo's floor: around-the-clock activity scaled to `rate` events/s, sales cycles of hours.

    Real cycles of weeks would show no wins for days and need a pipeline backlog of millions of deals at
    demo rates, so cycles are compressed (median 2 h, backlog of one day).
    """
    live = replace(cfg, diurnal=False, cycle_median_days=min(cfg.cycle_median_days, 2 / 24),
                   backlog_days=min(cfg.backlog_days, 1.0))
    if rate is not None:
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        live = replace(live, intensity=rate / events_per_second(replace(live, intensity=1.0)))
    return live


async def generate_realtime(cfg: FloorConfig, *, clock: Callable[[], float] = time.time,
                            sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                            ) -> AsyncGenerator[EventDict, None]:
    """The floor on the wall clock: starts now, emits each event when its time comes, until cancelled.

    `cfg.start`/`cfg.end` are replaced (start = now, end = ten years on); pass a `realtime_config`.
    Backlog deals (dated in the past) come at once, then events follow `occurred_at ≈ now`.
    """
    now = datetime.fromtimestamp(clock(), timezone.utc)
    live = replace(cfg, start=now, end=now + timedelta(days=3652))
    for event in generate(live):
        wait = _epoch_s(event["occurred_at"]) - clock()
        if wait > 0:
            await sleep(wait)
        yield event


def _epoch_s(stamp: str) -> float:
    return (datetime.fromisoformat(stamp) - _EPOCH).total_seconds()


# --- CLI -----------------------------------------------------------------------------------------------

DEFAULT_REALTIME_RATE: Final = 5.0
KEYS_HELP: Final = "message keys: as SPEC §1 recommends, random per message, or none (default spec)"


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _when(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date or time, got {text!r}") from None


def configure_simulate(parser: argparse.ArgumentParser) -> None:
    """Options of `salesfloor simulate`."""
    parser.add_argument("--teams", type=_positive_int, default=3, help="number of teams (default 3)")
    parser.add_argument("--reps", type=_positive_int, default=8, help="reps per team (default 8)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed; with the same start it reproduces the same events (default 0)")
    parser.add_argument("--start", type=_when,
                        help="simulated period start, ISO; without offset in the business time zone "
                             "(default: today 00:00 there)")
    parser.add_argument("--end", type=_when, help="simulated period end, ISO (default: now)")
    parser.add_argument("--lead-rate", type=_positive_float, default=6.0,
                        help="leads per hour per team in business hours (default 6)")
    parser.add_argument("--realtime", action="store_true",
                        help="follow the wall clock from now on until Ctrl-C (ignores --start/--end)")
    parser.add_argument("--rate", type=_positive_float,
                        help="with --realtime: average simulated events/s "
                             f"(default {DEFAULT_REALTIME_RATE:g}); otherwise: cap on messages/s sent to "
                             "Kafka (default: as fast as possible)")
    parser.add_argument("--max-events", type=_positive_int, help="stop after this many events")
    parser.add_argument("--out", type=Path, metavar="FILE.jsonl",
                        help="write raw message values to this file instead of producing to Kafka")
    parser.add_argument("--shuffle", type=_share, default=0.0,
                        help="share of messages delivered out of order, 1-500 positions late (0..1)")
    parser.add_argument("--duplicates", type=_share, default=0.0,
                        help="share of messages delivered twice (0..1)")
    parser.add_argument("--malformed", type=_share, default=0.0,
                        help="extra invalid messages, as a share of the events (0..1)")
    parser.add_argument("--late", type=_share, default=0.0,
                        help="share of events replaced by a copy dated 60-90 days earlier (0..1)")
    parser.add_argument("--keys", choices=KEY_MODES, default="spec",
                        help=KEYS_HELP)


def configure_produce(parser: argparse.ArgumentParser) -> None:
    """Options of `salesfloor produce`."""
    parser.add_argument("file", type=Path, metavar="FILE.jsonl", help="raw message values, one per line")
    parser.add_argument("--rate", type=_positive_float,
                        help="cap on messages/s (default: as fast as possible)")
    parser.add_argument("--keys", choices=KEY_MODES, default="spec",
                        help=KEYS_HELP)


def _stderr_progress(stats: ProduceStats) -> None:
    print(f"salesfloor: {stats.summary()}", file=sys.stderr, flush=True)


def _config(args: argparse.Namespace, settings: Settings) -> FloorConfig:
    zone = settings.zone
    now = datetime.now(zone)
    start = args.start or now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = args.end or now
    start = start if start.tzinfo else start.replace(tzinfo=zone)
    end = end if end.tzinfo else end.replace(tzinfo=zone)
    return FloorConfig(start=start, end=end, seed=args.seed, teams=args.teams, reps_per_team=args.reps,
                       tz=settings.timezone, currency=settings.currency, lead_rate=args.lead_rate,
                       max_events=args.max_events)


async def _send(values: Iterable[bytes] | AsyncIterable[bytes], args: argparse.Namespace,
                settings: Settings, *, rate: float | None) -> int:
    """Produce with progress on stderr; a broker problem ends in one line and exit code 1, not a trace."""
    from aiokafka.errors import KafkaError  # type: ignore[import-untyped, unused-ignore]

    try:
        stats = await produce(values, settings=settings, keys=args.keys, rate=rate, progress=_stderr_progress)
    except KafkaError as exc:
        print(f"salesfloor: Kafka at {settings.kafka_bootstrap}: {exc}", file=sys.stderr)
        return 1
    if stats.failed:
        print(f"salesfloor: {stats.failed} messages failed: {stats.first_error}", file=sys.stderr)
    return 0 if stats.failed == 0 else 1


async def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """`salesfloor simulate`: a period (or the live floor) into Kafka or a JSONL file."""
    try:
        cfg = _config(args, settings)
    except ValueError as exc:
        print(f"salesfloor simulate: error: {exc}", file=sys.stderr)
        return 2
    distorter = Distorter(seed=args.seed, shuffle=args.shuffle, duplicate=args.duplicates,
                          malformed=args.malformed, late=args.late, currency=settings.currency)
    if args.realtime:
        live = realtime_config(cfg, args.rate or DEFAULT_REALTIME_RATE)
        print(f"salesfloor simulate: real time, ~{args.rate or DEFAULT_REALTIME_RATE:g} events/s, "
              f"{cfg.teams}x{cfg.reps_per_team} reps; Ctrl-C stops", file=sys.stderr)
        stream = adistort(generate_realtime(live), distorter)
        if args.out:
            with args.out.open("wb") as out:
                async for value in stream:
                    out.write(value + b"\n")
                    out.flush()
            return 0
        return await _send(stream, args, settings, rate=None)
    print(f"salesfloor simulate: {cfg.start.isoformat()} .. {cfg.end.isoformat()}, seed {cfg.seed}, "
          f"{cfg.teams}x{cfg.reps_per_team} reps", file=sys.stderr)

    def values() -> Iterator[bytes]:
        for event in generate(cfg):
            for value, _ in distorter.feed(event):
                yield value
        for value, _ in distorter.close():
            yield value

    if args.out:
        count = write_jsonl(values(), args.out)
        print(f"salesfloor simulate: wrote {count} messages to {args.out}", file=sys.stderr)
        return 0
    return await _send(values(), args, settings, rate=args.rate)


async def run_produce(args: argparse.Namespace, settings: Settings) -> int:
    """`salesfloor produce FILE.jsonl`: replay raw values byte for byte into the input topics."""
    if not args.file.is_file():
        print(f"salesfloor produce: error: no such file: {args.file}", file=sys.stderr)
        return 2
    return await _send(read_jsonl(args.file), args, settings, rate=args.rate)

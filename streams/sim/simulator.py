"""A simulated sales floor: the seeded discrete-event model behind `generate`, a realistic, time-ordered
SPEC §2 event stream for tests, benchmarks and the demo."""

from __future__ import annotations

import heapq
import math
import random
from bisect import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo

from streams.sim.catalog import (
    COLD_CUM,
    CONTACT_COUNTS,
    CONTACT_CUM,
    DQ_REASONS,
    LOST_REASONS,
    MEAN_SOURCE_CONVERSION,
    OUTCOMES,
    SOURCE_CONVERSION,
    SOURCE_CUM,
    SOURCES,
    TEAM_NAMES,
    WARM_CUM,
)
from streams.sim.clock import DAY, EPOCH, HOUR, WorkingDay, iso_ms, to_ms
from streams.sim.config import FloorConfig
from streams.sim.distort import EventDict

# FloorConfig and the catalogue's names are re-exported: `from streams.sim.simulator import FloorConfig,
# generate` is the model's API.
__all__ = ["DQ_REASONS", "LOST_REASONS", "OUTCOMES", "SOURCES", "TEAM_NAMES", "FloorConfig", "generate"]

_SPEED_SIGMA: Final = 0.5


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
        self.start = -(-(cfg.start - EPOCH) // timedelta(milliseconds=1))  # first whole ms >= start
        self.end = to_ms(cfg.end)
        self.rng = random.Random(f"salesfloor:{cfg.seed}:{self.start}")  # noqa: S311 - simulation
        self.zone = ZoneInfo(cfg.tz)
        self.heap: list[tuple[int, int, Any]] = []
        self.seq = 0
        self.run = f"{self.rng.getrandbits(24):06x}"
        self.counters = {"lead": 0, "deal": 0, "call": 0, "email": 0, "past": 0}
        self.day = WorkingDay(cfg, self.zone, self.rng)
        sigma = math.log(cfg.response_p90_s / cfg.response_median_s) / 1.2815515655446004
        self.response_sigma = math.sqrt(max(sigma**2 - _SPEED_SIGMA**2, 0.01))  # reps' speeds add spread
        self.teams = [self._make_team(i) for i in range(cfg.teams)]
        self.per_ms = cfg.intensity / HOUR
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
        reps = [
            _Rep(
                f"rep-{name}-{j + 1:02d}",
                speed=math.exp(rng.gauss(0, _SPEED_SIGMA)),
                skill=math.exp(rng.gauss(0, 0.25)),
            )
            for j in range(self.cfg.reps_per_team)
        ]
        return _Team(f"team-{name}", reps)

    # --- engine -------------------------------------------------------------------------------------

    def _push(self, at: int, item: Any) -> None:
        if at <= self.end:
            heapq.heappush(self.heap, (at, self.seq, item))
            self.seq += 1

    def _emit(self, at: int, kind: str, team: str, rep: str | None, **fields: Any) -> None:
        """Schedule an event; its event_id and occurred_at are filled in when it is popped."""
        if at <= self.end:
            self._push(at, {"event_id": "", "type": kind, "occurred_at": "", "team_id": team, "rep_id": rep, **fields})

    def _process(self, team: _Team, step: Callable[[_Team, float, int], None], rate: float, after: int) -> None:
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
        mean_amount = cfg.deal_median * math.exp(cfg.deal_sigma**2 / 2)
        team_won = leads_month * cfg.answered_share * cfg.conversion * cfg.win_rate * mean_amount
        for team in self.teams:
            per_rep = team_won / len(team.reps)
            total = 0.0
            for rep in team.reps:
                value = max(1000.0, round(per_rep * math.exp(rng.gauss(0.0, 0.15)) / 1000) * 1000)
                total += value
                self._emit(at, "target.set", team.id, rep.id, period=period, metric="won_amount", value=value)
            self._push(
                at,
                {
                    "event_id": "",
                    "type": "target.set",
                    "occurred_at": "",
                    "team_id": team.id,
                    "period": period,
                    "metric": "won_amount",
                    "value": total,
                },
            )  # no rep: team target
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        self._push(to_ms(datetime(year, month, 1, tzinfo=self.zone)), self._targets)

    def _backlog(self, team: _Team) -> None:
        """Deals opened in the month before `start` and still open then: they win or lose in the period."""
        cfg, rng = self.cfg, self.rng
        rate = cfg.lead_rate * cfg.answered_share * cfg.conversion * self.per_ms
        if rate <= 0 or cfg.backlog_days <= 0:
            return
        at = self.start - int(cfg.backlog_days * DAY)
        while True:
            at += int(rng.expovariate(rate)) + 1
            if at >= self.start:
                return
            if rng.random() >= self.day.lead_profile(at):
                continue
            closes = at + self._lognormal_ms(cfg.cycle_median_days * DAY, 0.9)
            if closes < self.start:
                continue
            rep = team.reps[rng.randrange(len(team.reps))]
            lead = None
            if rng.random() < 0.8:
                self.counters["past"] += 1
                lead = f"lead-{self.run}-p{self.counters['past']:06d}"
            self._deal(team, rep, at, lead, closes=max(self.start, self.day.work_time(closes)))

    def _lead_arrival(self, team: _Team, rate: float, at: int) -> None:
        if self.rng.random() < self.day.lead_profile(at):
            self._lead(team, at)
        self._process(team, self._lead_arrival, rate, at)

    def _prospect_call(self, team: _Team, rate: float, at: int) -> None:
        rng = self.rng
        if rng.random() < self.day.work_profile(at):
            self._call(team.id, team.reps[rng.randrange(len(team.reps))].id, at, None, "outbound", warm=False)
        self._process(team, self._prospect_call, rate, at)

    def _prospect_email(self, team: _Team, rate: float, at: int) -> None:
        rng = self.rng
        if rng.random() < self.day.work_profile(at):
            self._email(team.id, team.reps[rng.randrange(len(team.reps))].id, at, None, warm=False)
        self._process(team, self._prospect_email, rate, at)

    def _inbound_call(self, team: _Team, rate: float, at: int) -> None:
        rng = self.rng
        if rng.random() < self.day.work_profile(at):
            self._call(team.id, team.reps[rng.randrange(len(team.reps))].id, at, None, "inbound", warm=True)
        self._process(team, self._inbound_call, rate, at)

    # --- entities -------------------------------------------------------------------------------------

    def _lead(self, team: _Team, created: int) -> None:
        """One lead's whole life, scheduled at once: assignment, contacts, disqualification, conversion."""
        cfg, rng, reps = self.cfg, self.rng, team.reps
        lead = self._next_id("lead")
        source = SOURCES[bisect(SOURCE_CUM, rng.random())]
        owner = reps[rng.randrange(len(reps))]
        ready = created
        if rng.random() < cfg.unassigned_share:
            ready = self.day.work_time(created + self._lognormal_ms(15 * 60_000, 1.0))
            self._emit(created, "lead.created", team.id, None, lead_id=lead, source=source)
            self._emit(ready, "lead.assigned", team.id, owner.id, lead_id=lead)
        else:
            self._emit(created, "lead.created", team.id, owner.id, lead_id=lead, source=source)
        owners = [(ready, owner)]
        if len(reps) > 1 and rng.random() < cfg.reassign_share:
            moved = ready + self._lognormal_ms(2 * HOUR, 1.0)
            other = reps[(reps.index(owner) + rng.randrange(1, len(reps))) % len(reps)]
            self._emit(moved, "lead.assigned", team.id, other.id, lead_id=lead)
            owners.append((moved, other))

        def owner_at(at: int) -> _Rep:
            return owners[-1][1] if at >= owners[-1][0] else owners[0][1]

        fate = rng.random()
        dq_early = cfg.disqualified_share * cfg.disqualified_before_contact
        if fate < dq_early:
            when = ready + self._lognormal_ms(45 * 60_000, 1.0)
            self._emit(
                when, "lead.disqualified", team.id, owner_at(when).id, lead_id=lead, reason=rng.choice(DQ_REASONS)
            )
            return
        if fate < dq_early + cfg.unanswered_share:
            return  # never answered
        count = CONTACT_COUNTS[bisect(CONTACT_CUM, rng.random())]
        times: list[int] = []
        called_in = source == "inbound_phone" and rng.random() < 0.7
        if called_in:
            talk = self._talk_seconds()  # the lead called in: that call is its first contact
            first = created + talk * 1000
            self._emit(
                first,
                "call.completed",
                team.id,
                owner_at(first).id,
                call_id=self._next_id("call"),
                direction="inbound",
                outcome="connected",
                duration_s=talk,
                lead_id=lead,
            )
            times.append(first)
        else:
            delay = cfg.response_median_s * 1000 * owner_at(ready).speed
            times.append(self.day.work_time(ready + self._lognormal_ms(delay, self.response_sigma)))
        while len(times) < count:
            times.append(self.day.work_time(times[-1] + self._lognormal_ms(3 * HOUR, 1.0)))
        answered = 1.0 - dq_early - cfg.unanswered_share
        dq_late = rng.random() < cfg.disqualified_share * (1 - cfg.disqualified_before_contact) / answered
        if dq_late:
            times = times[: rng.randint(1, len(times))]
            when = times[-1] + self._lognormal_ms(HOUR, 1.0)
            self._emit(
                when, "lead.disqualified", team.id, owner_at(when).id, lead_id=lead, reason=rng.choice(DQ_REASONS)
            )
        for i, at in enumerate(times):
            if i == 0 and called_in:
                continue
            rep = owner_at(at).id
            if rng.random() < (0.65 if i == 0 else 0.55):
                self._call(team.id, rep, at, lead, "outbound", warm=True)
            else:
                self._email(team.id, rep, at, lead, warm=True)
        if rng.random() < 0.12:  # the lead calls back later: a contact only when someone picks up
            at = self.day.work_time(times[0] + self._lognormal_ms(DAY, 1.0))
            self._call(team.id, owner_at(at).id, at, lead, "inbound", warm=True)
        source_factor = SOURCE_CONVERSION[source] / MEAN_SOURCE_CONVERSION
        converts = min(0.9, cfg.conversion * source_factor * owner.skill)
        if not dq_late and rng.random() < converts:
            at = self.day.work_time(times[rng.randrange(len(times))] + self._lognormal_ms(90 * 60_000, 1.0))
            self._deal(team, owner_at(at), at, lead)

    def _talk_seconds(self) -> int:
        return min(86_400, max(5, int(240 * math.exp(self.rng.gauss(0.0, 0.8)))))

    def _call(self, team: str, rep: str, at: int, lead: str | None, direction: str, *, warm: bool) -> None:
        rng = self.rng
        if direction == "inbound":
            roll = rng.random()
            outcome = "connected" if roll < 0.65 else "no_answer" if roll < 0.9 else "voicemail"
        else:
            outcome = OUTCOMES[bisect(WARM_CUM if warm else COLD_CUM, rng.random())]
        if outcome == "connected":
            duration = self._talk_seconds()
        elif outcome == "voicemail":
            duration = rng.randint(12, 75)
        else:
            duration = 0
        fields: dict[str, Any] = {
            "call_id": self._next_id("call"),
            "direction": direction,
            "outcome": outcome,
            "duration_s": duration,
        }
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
                again += self._lognormal_ms(3 * HOUR, 1.2)
                self._emit(again, "email.opened", team, rep, email_id=email, **extra)
            if rng.random() < (0.25 if warm else 0.08):
                self._emit(
                    opened + self._lognormal_ms(90_000, 1.0), "email.clicked", team, rep, email_id=email, **extra
                )
            if rng.random() < (0.3 if warm else 0.06):
                self._emit(opened + self._lognormal_ms(HOUR, 1.3), "email.replied", team, rep, email_id=email, **extra)
        elif rng.random() < 0.03:  # replied, but the open pixel was blocked
            self._emit(at + self._lognormal_ms(2 * HOUR, 1.3), "email.replied", team, rep, email_id=email, **extra)

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
            closes = self.day.work_time(at + self._lognormal_ms(cfg.cycle_median_days * DAY, 0.9))
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

"""Meetings on the simulated floor, apart from the leads that book them: a booked slot in business hours
(sometimes moved), its outcome, the odd no-show corrected to held, and deals that follow prospecting
meetings."""

from __future__ import annotations

import math
from bisect import bisect
from typing import Any, Final

from streams.sim.catalog import MEETING_CUM, MEETING_OUTCOMES
from streams.sim.clock import DAY, HOUR, iso_ms
from streams.sim.deals import Deals
from streams.sim.engine import Rep, Team

RESCHEDULE_SHARE: Final = 0.08  # a meeting is moved once (a new `meeting.scheduled` for the same id)
CORRECTION_SHARE: Final = 0.15  # of no-shows (~3 % of meetings): the rep corrects the outcome to held
PROSPECT_DEAL_SHARE: Final = 0.25  # a held prospecting meeting opens a deal (without lead)
HELD_SHARE: Final = 0.70 + 0.20 * CORRECTION_SHARE  # meetings whose latest outcome is held
_SLOT: Final = 15 * 60_000
_MIN_NOTICE: Final = 15 * 60_000


class Meetings(Deals):
    """`meeting.scheduled` and `meeting.completed` events, per lead or from prospecting."""

    def _slot(self, booked: int) -> int:
        """A meeting time some hours to days after booking, on a quarter hour in business hours."""
        rng = self.rng
        wanted = booked + max(_MIN_NOTICE, self._lognormal_ms(self.cfg.meeting_lead_hours * HOUR, 1.0))
        wanted = -(-wanted // _SLOT) * _SLOT
        slot = self.day.next_open(wanted)
        if slot != wanted:  # off hours: some time in the next working morning instead
            slot += 2 * _SLOT * rng.randrange(8)
        return slot

    def _duration_s(self) -> int:
        return min(7200, max(300, int(1800 * math.exp(self.rng.gauss(0.0, 0.45)))))

    def _meeting(self, team: Team, rep: Rep, booked: int, lead: str | None, slot: int | None = None) -> int | None:
        """One meeting booked at `booked` (for `slot` when given: a backlog meeting, never moved); returns the
        time of the `meeting.completed` saying it was held (the latest outcome), or None when it was not."""
        rng = self.rng
        meeting = self._next_id("meeting")
        extra: dict[str, Any] = {"lead_id": lead} if lead is not None else {}

        def emit(at: int, kind: str, **fields: Any) -> None:
            self._emit(at, kind, team.id, rep.id, meeting_id=meeting, **fields, **extra)

        backlog = slot is not None
        slot = self._slot(booked) if slot is None else slot
        emit(booked, "meeting.scheduled", scheduled_for=iso_ms(slot))
        if not backlog and rng.random() < RESCHEDULE_SHARE:
            moved = booked + max(1, int((slot - booked) * rng.uniform(0.1, 0.9)))
            slot = self._slot(moved)
            emit(moved, "meeting.scheduled", scheduled_for=iso_ms(slot))
        outcome = MEETING_OUTCOMES[bisect(MEETING_CUM, rng.random())]
        if outcome == "held":
            duration = self._duration_s()
            done = slot + duration * 1000 + self._lognormal_ms(3 * 60_000, 1.0)  # logged after it ends
            emit(done, "meeting.completed", outcome="held", duration_s=duration)
            return done
        waited = rng.randint(10 * 60, 20 * 60) if outcome == "no_show" else rng.randint(0, 5 * 60)
        done = slot + waited * 1000
        emit(done, "meeting.completed", outcome=outcome)
        if outcome == "no_show" and rng.random() < CORRECTION_SHARE:
            duration = self._duration_s()  # the prospect was late after all
            fixed = done + duration * 1000 + self._lognormal_ms(HOUR, 0.8)
            emit(fixed, "meeting.completed", outcome="held", duration_s=duration)
            return fixed
        return None

    def _meeting_backlog(self, team: Team) -> None:
        """Meetings booked in the days before `start` for a time after it: the period's first days have
        meetings too. Their `meeting.scheduled` events are dated before `start`."""
        cfg, rng = self.cfg, self.rng
        hours = cfg.business_hours[1] - cfg.business_hours[0] if cfg.diurnal else 24
        per_lead = cfg.lead_rate * cfg.answered_share * cfg.meeting_share
        prospect = cfg.prospect_meetings_per_day / hours * len(team.reps)
        rate = (per_lead + prospect) * self.per_ms
        days = min(cfg.backlog_days, 14.0)
        if rate <= 0 or days <= 0:
            return
        at = self.start - int(days * DAY)
        while True:
            at += int(rng.expovariate(rate)) + 1
            if at >= self.start:
                return
            if rng.random() >= self.day.work_profile(at):
                continue
            slot = self._slot(at)
            if slot < self.start:
                continue  # already over
            lead = None
            if rng.random() < per_lead / (per_lead + prospect):
                self.counters["past"] += 1
                lead = f"lead-{self.run}-p{self.counters['past']:06d}"
            self._after_meeting(team, self._any_rep(team), at, lead, slot)

    def _after_meeting(self, team: Team, rep: Rep, at: int, lead: str | None, slot: int | None = None) -> None:
        held = self._meeting(team, rep, at, lead, slot)
        if held is not None and lead is None and self.rng.random() < PROSPECT_DEAL_SHARE:
            self._deal(team, rep, self.day.work_time(held + self._lognormal_ms(4 * HOUR, 1.0)), None)

    def _prospect_meeting(self, team: Team, rate: float, at: int) -> None:
        """A meeting booked by prospecting (no lead); a held one sometimes opens a deal."""
        rng = self.rng
        if rng.random() < self.day.work_profile(at):
            self._after_meeting(team, self._any_rep(team), at, None)
        self._process(team, self._prospect_meeting, rate, at)

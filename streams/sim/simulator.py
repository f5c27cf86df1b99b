"""A simulated sales floor: the seeded discrete-event model behind `generate`, a realistic, time-ordered
SPEC §2 event stream for tests, benchmarks and the demo. Leads, calls and emails live here; deals, meetings,
targets and calendars in their own modules (`deals.py`, `meetings.py`, `targets.py`, `calendars.py`) on the
core in `engine.py`."""

from __future__ import annotations

from bisect import bisect
from collections.abc import Iterator
from typing import Any

from streams.sim.calendars import Calendars
from streams.sim.catalog import (
    COLD_CUM,
    CONTACT_COUNTS,
    CONTACT_CUM,
    DQ_REASONS,
    LOST_REASONS,
    MEAN_SOURCE_CONVERSION,
    MEETING_OUTCOMES,
    OUTCOMES,
    SOURCE_CONVERSION,
    SOURCE_CUM,
    SOURCES,
    TARGET_METRICS,
    TEAM_NAMES,
    WARM_CUM,
)
from streams.sim.clock import DAY, HOUR
from streams.sim.config import FloorConfig
from streams.sim.engine import Rep, Team
from streams.sim.malformed import EventDict
from streams.sim.meetings import HELD_SHARE, Meetings
from streams.sim.response import CALLED_IN_SHARE, first_contact, mean_response_factor, response_factor
from streams.sim.targets import Targets

# FloorConfig and the catalogue's names are re-exported: `from streams.sim.simulator import FloorConfig,
# generate` is the model's API.
__all__ = [
    "DQ_REASONS",
    "LOST_REASONS",
    "MEETING_OUTCOMES",
    "OUTCOMES",
    "SOURCES",
    "TARGET_METRICS",
    "TEAM_NAMES",
    "FloorConfig",
    "generate",
]


class _Floor(Meetings, Targets, Calendars):
    """The whole floor: every process scheduled on the engine's heap."""

    def __init__(self, cfg: FloorConfig) -> None:
        super().__init__(cfg)
        self.mean_response_factor = mean_response_factor(cfg)
        if cfg.calendars:
            self._publish_calendars()
        self._push(self.start, self._monthly_targets)
        self._push(self.start, self._daily_targets)
        for team in self.teams:
            self._backlog(team)
            self._meeting_backlog(team)
        hours = cfg.business_hours[1] - cfg.business_hours[0] if cfg.diurnal else 24
        for team in self.teams:
            per_team = len(team.reps) * self.per_ms
            self._process(team, self._lead_arrival, cfg.lead_rate * self.per_ms, self.start)
            self._process(team, self._prospect_call, cfg.prospect_calls_per_hour * per_team, self.start)
            self._process(team, self._prospect_email, cfg.prospect_emails_per_hour * per_team, self.start)
            self._process(team, self._inbound_call, cfg.inbound_calls_per_hour * self.per_ms, self.start)
            self._process(team, self._prospect_meeting, cfg.prospect_meetings_per_day / hours * per_team, self.start)

    # --- processes ------------------------------------------------------------------------------------

    def _lead_arrival(self, team: Team, rate: float, at: int) -> None:
        if self.rng.random() < self.day.lead_profile(at):
            self._lead(team, at)
        self._process(team, self._lead_arrival, rate, at)

    def _prospect_call(self, team: Team, rate: float, at: int) -> None:
        rng = self.rng
        if rng.random() < self.day.work_profile(at):
            self._call(team.id, self._any_rep(team).id, at, None, "outbound", warm=False)
        self._process(team, self._prospect_call, rate, at)

    def _prospect_email(self, team: Team, rate: float, at: int) -> None:
        rng = self.rng
        if rng.random() < self.day.work_profile(at):
            self._email(team.id, self._any_rep(team).id, at, None, warm=False)
        self._process(team, self._prospect_email, rate, at)

    def _inbound_call(self, team: Team, rate: float, at: int) -> None:
        rng = self.rng
        if rng.random() < self.day.work_profile(at):
            self._call(team.id, self._any_rep(team).id, at, None, "inbound", warm=True)
        self._process(team, self._inbound_call, rate, at)

    # --- entities -------------------------------------------------------------------------------------

    def _lead(self, team: Team, created: int) -> None:
        """One lead's whole life, scheduled at once: assignment, contacts, a meeting, disqualification,
        conversion (likelier after a fast first contact and after a held meeting, and then after it)."""
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

        def owner_at(at: int) -> Rep:
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
        called_in = source == "inbound_phone" and rng.random() < CALLED_IN_SHARE
        connected: list[int] = []  # ends of connected calls: where meetings get booked
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
            connected.append(first)
        else:
            times.append(first_contact(cfg, self.day, rng, ready, owner_at(ready).speed))
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
                end = self._call(team.id, rep, at, lead, "outbound", warm=True)
                if end is not None:
                    connected.append(end)
            else:
                self._email(team.id, rep, at, lead, warm=True)
        if rng.random() < 0.12:  # the lead calls back later: a contact only when someone picks up
            at = self.day.work_time(times[0] + self._lognormal_ms(DAY, 1.0))
            self._call(team.id, owner_at(at).id, at, lead, "inbound", warm=True)
        if dq_late:
            return
        held = None
        if rng.random() < cfg.meeting_share:  # booked right after a connected call, else after the last contact
            booked = (connected[0] if connected else times[-1]) + self._lognormal_ms(4 * 60_000, 1.0)
            held = self._meeting(team, owner_at(booked), booked, lead)
        lift = cfg.meeting_lift if held is not None else 1.0
        source_factor = SOURCE_CONVERSION[source] / MEAN_SOURCE_CONVERSION
        mean_lift = 1.0 + cfg.meeting_share * HELD_SHARE * (cfg.meeting_lift - 1.0)
        speed = response_factor(cfg, max(0, times[0] - created)) / self.mean_response_factor
        converts = min(0.9, cfg.conversion * source_factor * owner.skill * lift / mean_lift * speed)
        if rng.random() < converts:
            after = held if held is not None else times[rng.randrange(len(times))]
            at = self.day.work_time(after + self._lognormal_ms((3 * HOUR) if held else 90 * 60_000, 1.0))
            self._deal(team, owner_at(at), at, lead)

    def _call(self, team: str, rep: str, at: int, lead: str | None, direction: str, *, warm: bool) -> int | None:
        """A call started at `at`, logged when it ends; returns that end when it connected."""
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
        return at + duration * 1000 if outcome == "connected" else None

    def _email(self, team: str, rep: str, at: int, lead: str | None, *, warm: bool) -> None:
        """A sent email and what its recipient does with it: opens (often several), clicks, replies, and
        now and then an unsubscribe (cold emails more often)."""
        rng = self.rng
        email = self._next_id("email")
        extra: dict[str, Any] = {"lead_id": lead} if lead is not None else {}
        self._emit(at, "email.sent", team, rep, email_id=email, **extra)
        opened = None
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
        if rng.random() < self.cfg.unsubscribe_share * (0.6 if warm else 1.2):
            when = opened + self._lognormal_ms(2 * 60_000, 1.0) if opened else at + self._lognormal_ms(3 * HOUR, 1.2)
            self._emit(when, "email.unsubscribed", team, rep, email_id=email, **extra)


def generate(cfg: FloorConfig) -> Iterator[EventDict]:
    """A deterministic, realistic, time-ordered stream of valid events, in bounded memory.

    The backlog's `deal.created`, `deal.stage_changed` and `meeting.scheduled` events and the teams'
    `calendar.set` (a day before) are dated before `start` (and come first); nothing is after `end`.
    """
    return iter(_Floor(cfg))

"""`FloorConfig`: what shapes one simulated floor (size, rates, shares, medians), checked when it is made."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


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
    calendars: bool = True  # every team but the last sends a `calendar.set` (its SLA clock) a day before start
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
    neglected_share: float = 0.05  # of answered leads: nobody works them for a day or more (the tail past 24 h)
    speed_to_lead: float = 7.0  # conversion odds of a lead answered within 5 min over one answered after a day
    conversion: float = 0.20  # of answered leads
    win_rate: float = 0.35
    deal_median: float = 1500.0  # EUR; with the default floor a rep's monthly won target is in the tens of thousands
    deal_sigma: float = 0.9
    cycle_median_days: float = 12.0
    backlog_days: float = 30.0
    meeting_share: float = 0.30  # of worked leads, booking a meeting (mostly on a connected call)
    prospect_meetings_per_day: float = 0.4  # per rep and working day, booked by prospecting, no lead
    meeting_lead_hours: float = 24.0  # median time from booking to the meeting
    meeting_lift: float = 3.0  # a held meeting multiplies a lead's odds of converting (the mean stays)
    unsubscribe_share: float = 0.015  # of sent emails
    deal_stages: tuple[str, ...] = ("qualification", "proposal", "negotiation")
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
        for name in (
            "unassigned_share",
            "reassign_share",
            "unanswered_share",
            "disqualified_share",
            "disqualified_before_contact",
            "conversion",
            "win_rate",
            "night_factor",
            "weekend_factor",
            "meeting_share",
            "unsubscribe_share",
            "neglected_share",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.unanswered_share + self.disqualified_share >= 1.0:
            raise ValueError("unanswered_share + disqualified_share must stay below 1")
        if (
            min(
                self.lead_rate,
                self.intensity,
                self.prospect_calls_per_hour,
                self.prospect_emails_per_hour,
                self.inbound_calls_per_hour,
                self.backlog_days,
                self.prospect_meetings_per_day,
            )
            < 0
        ):
            raise ValueError("rates, intensity and backlog_days must not be negative")
        if not (self.meeting_lead_hours > 0 and self.meeting_lift >= 1):
            raise ValueError("meeting_lead_hours must be positive and meeting_lift at least 1")
        if not (1.0 <= self.speed_to_lead < 1000.0):
            raise ValueError("speed_to_lead must be at least 1 (1: response time does not change conversion)")
        if not self.deal_stages or len(set(self.deal_stages)) != len(self.deal_stages) or "created" in self.deal_stages:
            raise ValueError("deal_stages must be distinct, at least one, and not 'created'")
        opens, closes = self.business_hours
        if not (
            0 < self.response_median_s < self.response_p90_s
            and self.deal_median > 0
            and self.cycle_median_days > 0
            and 0 <= opens < closes <= 24
        ):
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

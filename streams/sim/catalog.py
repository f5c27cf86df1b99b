"""The floor's catalogue, apart from the event model that draws from it: team names, lead sources, call and
meeting outcomes, reasons, deal stages and target metrics, with the weights the model samples them by."""

from __future__ import annotations

from itertools import accumulate
from typing import Final

TEAM_NAMES: Final = (
    "north",
    "south",
    "east",
    "west",
    "central",
    "coast",
    "metro",
    "alpine",
    "delta",
    "harbor",
    "valley",
    "summit",
)
SOURCES: Final = ("inbound_web", "outbound", "referral", "inbound_phone", "event", "partner", "other")
_SOURCE_WEIGHTS: Final = (40, 22, 12, 10, 7, 6, 3)
SOURCE_CONVERSION: Final = {
    "inbound_web": 1.0,
    "outbound": 0.6,
    "referral": 1.8,
    "inbound_phone": 1.4,
    "event": 0.9,
    "partner": 1.3,
    "other": 0.8,
}
MEAN_SOURCE_CONVERSION: Final = sum(
    w * SOURCE_CONVERSION[s] for s, w in zip(SOURCES, _SOURCE_WEIGHTS, strict=True)
) / sum(_SOURCE_WEIGHTS)
OUTCOMES: Final = ("connected", "no_answer", "voicemail", "busy", "failed")
_WARM_OUTCOMES: Final = (32, 34, 20, 7, 7)
_COLD_OUTCOMES: Final = (15, 45, 25, 8, 7)
CONTACT_COUNTS: Final = (1, 2, 3, 4, 5, 6)
_CONTACT_WEIGHTS: Final = (25, 25, 20, 14, 10, 6)
DQ_REASONS: Final = ("spam", "duplicate", "not_a_fit", "no_budget", "student", "wrong_contact")
LOST_REASONS: Final = ("price", "competitor", "no_budget", "timing", "no_decision", "went_dark")
DEAL_STAGES: Final = ("qualification", "proposal", "negotiation")  # SALESFLOOR_DEAL_STAGES' default
MEETING_OUTCOMES: Final = ("held", "no_show", "cancelled")
_MEETING_WEIGHTS: Final = (70, 20, 10)
TARGET_METRICS: Final = (
    "won_amount",
    "deals_won",
    "opportunities_opened",
    "calls_outbound",
    "calls_connected",
    "emails_sent",
    "meetings_held",
    "leads_responded",
)  # SPEC §4.3
DAILY_METRICS: Final = ("calls_outbound", "emails_sent", "meetings_held")


def _cum(weights: tuple[int, ...]) -> tuple[float, ...]:
    total = sum(weights)
    return tuple(c / total for c in accumulate(weights))


SOURCE_CUM: Final = _cum(_SOURCE_WEIGHTS)
WARM_CUM: Final = _cum(_WARM_OUTCOMES)
COLD_CUM: Final = _cum(_COLD_OUTCOMES)
CONTACT_CUM: Final = _cum(_CONTACT_WEIGHTS)
MEETING_CUM: Final = _cum(_MEETING_WEIGHTS)
MEAN_CONTACTS: Final = sum(c * w for c, w in zip(CONTACT_COUNTS, _CONTACT_WEIGHTS, strict=True)) / sum(_CONTACT_WEIGHTS)
WARM_CONNECT: Final = _WARM_OUTCOMES[0] / sum(_WARM_OUTCOMES)
COLD_CONNECT: Final = _COLD_OUTCOMES[0] / sum(_COLD_OUTCOMES)

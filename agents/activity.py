"""Activity KPIs: calls (outbound, connected, talk time) and emails (sent, open/click/reply cohorts)."""

from __future__ import annotations

from collections.abc import Iterable

from agents.contributions import CompactEvent, ContributionBuilder, earliest

CALLS_OUTBOUND = "co"
CALLS_CONNECTED = "cc"
TALK_TIME_US = "tt"
EMAILS_SENT = "es"
EMAILS_OPENED = "eo"
EMAILS_CLICKED = "ek"
EMAILS_REPLIED = "er"

_ENGAGEMENT = {"email.opened": EMAILS_OPENED, "email.clicked": EMAILS_CLICKED, "email.replied": EMAILS_REPLIED}


def is_contact(event: CompactEvent) -> bool:
    """SPEC §4: an outbound call (any outcome), an inbound connected call, or an email sent."""
    kind = event["y"]
    if kind == "call.completed":
        return event["d"] == "outbound" or event["o"] == "connected"
    return kind == "email.sent"


def add_calls(out: ContributionBuilder, events: Iterable[CompactEvent]) -> None:
    """Each call counts at its own time, team and rep."""
    for call in events:
        if call["y"] != "call.completed":
            continue
        team, rep, at = call["T"], call["R"], call["a"]
        connected = call["o"] == "connected"
        if call["d"] == "outbound":
            out.add(team, rep, at, CALLS_OUTBOUND)
            if connected:
                out.add(team, rep, at, CALLS_CONNECTED)
        if connected and call["s"]:
            out.add(team, rep, at, TALK_TIME_US, call["s"])


def add_email(out: ContributionBuilder, events: list[CompactEvent]) -> None:
    """One email: counted when its `email.sent` is seen, with the engagement it ever got (cohort)."""
    sent = earliest(e for e in events if e["y"] == "email.sent")
    if sent is None:
        return
    team, rep, at = sent["T"], sent["R"], sent["a"]
    out.add(team, rep, at, EMAILS_SENT)
    for field in sorted({_ENGAGEMENT[e["y"]] for e in events if e["y"] in _ENGAGEMENT}):
        out.add(team, rep, at, field)

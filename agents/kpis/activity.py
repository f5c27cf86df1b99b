"""Activity: calls (outbound, connected, talk time) and emails (sent, and the open, click, reply and
unsubscribe cohorts of the emails sent in a window)."""

from __future__ import annotations

from agents.kpis.model import MICRO, ContributionBuilder, Entity, Family, earliest

CALLS_OUTBOUND = "co"
CALLS_CONNECTED = "cc"
TALK_TIME_US = "tt"
EMAILS_SENT = "es"
EMAILS_OPENED = "eo"
EMAILS_CLICKED = "ek"
EMAILS_REPLIED = "er"
EMAILS_UNSUBSCRIBED = "eu"

_ENGAGEMENT = (
    ("email.opened", EMAILS_OPENED),
    ("email.clicked", EMAILS_CLICKED),
    ("email.replied", EMAILS_REPLIED),
    ("email.unsubscribed", EMAILS_UNSUBSCRIBED),
)


def contribute(entity: Entity, out: ContributionBuilder) -> None:
    """Each call counts at its own time, team and rep (calls live on their lead, else on their own);
    an email counts once its `email.sent` is seen, with the engagement it ever got."""
    if entity.kind == "E":
        _email(entity, out)
        return
    for call in entity.of("call.completed"):
        team, rep, at = call["T"], call["R"] or "", call["a"]
        connected = call["o"] == "connected"
        if call["d"] == "outbound":
            out.add(team, rep, at, CALLS_OUTBOUND)
            if connected:
                out.add(team, rep, at, CALLS_CONNECTED)
        if connected and call["s"]:
            out.add(team, rep, at, TALK_TIME_US, call["s"])


def _email(entity: Entity, out: ContributionBuilder) -> None:
    sent = earliest(entity.of("email.sent"))
    if sent is None:
        return
    team, rep, at = sent["T"], sent["R"] or "", sent["a"]
    out.add(team, rep, at, EMAILS_SENT)
    for kind, field in _ENGAGEMENT:
        if entity.of(kind):
            out.add(team, rep, at, field)


FAMILY = Family(
    name="activity",
    kinds="LCE",
    contribute=contribute,
    fields=(
        CALLS_OUTBOUND,
        CALLS_CONNECTED,
        TALK_TIME_US,
        EMAILS_SENT,
        EMAILS_OPENED,
        EMAILS_CLICKED,
        EMAILS_REPLIED,
        EMAILS_UNSUBSCRIBED,
    ),
    paced=(CALLS_OUTBOUND, EMAILS_SENT),
    counts=(
        ("salesfloor_calls_outbound", CALLS_OUTBOUND, 1),
        ("salesfloor_calls_connected", CALLS_CONNECTED, 1),
        ("salesfloor_talk_time_seconds", TALK_TIME_US, MICRO),
        ("salesfloor_emails_sent", EMAILS_SENT, 1),
        ("salesfloor_email_replies", EMAILS_REPLIED, 1),
    ),
    ratios=(
        ("salesfloor_call_connect_ratio", CALLS_CONNECTED, (CALLS_OUTBOUND,), 1),
        ("salesfloor_email_open_ratio", EMAILS_OPENED, (EMAILS_SENT,), 1),
        ("salesfloor_email_click_ratio", EMAILS_CLICKED, (EMAILS_SENT,), 1),
        ("salesfloor_email_reply_ratio", EMAILS_REPLIED, (EMAILS_SENT,), 1),
        ("salesfloor_email_unsubscribe_ratio", EMAILS_UNSUBSCRIBED, (EMAILS_SENT,), 1),
    ),
)

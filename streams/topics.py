"""Topic names of SPEC §1 and which topic carries which event type."""

from __future__ import annotations

from typing import Final

INPUT_TOPICS: Final = ("leads", "calls", "emails", "deals", "targets")
OUTPUT_TOPICS: Final = ("alerts", "deadletter")

TOPIC_OF_TYPE: Final[dict[str, str]] = {
    "lead.created": "leads",
    "lead.assigned": "leads",
    "lead.disqualified": "leads",
    "call.completed": "calls",
    "email.sent": "emails",
    "email.opened": "emails",
    "email.clicked": "emails",
    "email.replied": "emails",
    "deal.created": "deals",
    "deal.won": "deals",
    "deal.lost": "deals",
    "target.set": "targets",
}

COMPACTED: Final = frozenset({"targets"})


def topic_name(prefix: str, short: str) -> str:
    """The full topic name, e.g. `sales.` + `calls`."""
    return f"{prefix}{short}"


def spec_key(event: dict[str, object]) -> str | None:
    """The message key SPEC §1 recommends for an event (producers may use any)."""
    kind = str(event.get("type", ""))
    if kind == "target.set":
        return f"{event.get('team_id')}/{event.get('rep_id') or ''}/{event.get('period')}"
    for field in ("lead_id", "deal_id" if kind.startswith("deal.") else "rep_id"):
        value = event.get(field)
        if isinstance(value, str):
            return value
    return None

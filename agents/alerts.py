"""Alerts on slow lead responses (SPEC §5): one `lead.response_sla_breached` per lead and threshold,
within seconds of the breach, while the lead is still waiting.

Each entity partition keeps a heap of the deadlines of its waiting leads, so a timer pops only what
is due: no task per lead and no scan of all leads. What was already alerted is read back from the
alerts topic itself after every rebalance, so a restart neither repeats nor loses an alert.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from agents.activity import is_contact
from agents.contributions import UNASSIGNED, CompactEvent, earliest, latest

ALERT_TYPE = "lead.response_sla_breached"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def rfc3339(at_us: int) -> str:
    return (_EPOCH + timedelta(microseconds=at_us)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def waiting_since(events: list[CompactEvent]) -> int | None:
    """The creation time of a lead still waiting for its first contact, else None."""
    created = earliest(e for e in events if e["y"] == "lead.created")
    if created is None:
        return None
    for event in events:
        kind = event["y"]
        if kind in ("lead.disqualified", "deal.created") or is_contact(event):
            return None
    return int(created["a"])


def alert_for(lead_key: str, events: list[CompactEvent], threshold_s: int, now_us: int) -> dict[str, Any]:
    created = earliest(e for e in events if e["y"] == "lead.created")
    assert created is not None
    assigned = latest(e for e in events if e["y"] == "lead.assigned")
    owner = assigned["R"] if assigned else created["R"] or UNASSIGNED
    lead_id = lead_key[1:]
    return {
        "type": ALERT_TYPE, "event_id": f"sla-{threshold_s}-{lead_id}", "lead_id": lead_id,
        "team_id": created["T"], "rep_id": owner, "created_at": rfc3339(created["a"]),
        "threshold_s": threshold_s, "detected_at": rfc3339(now_us),
    }


@dataclass
class Deadlines:
    """Due times of one partition's waiting leads, earliest first."""

    heap: list[tuple[int, int, str]] = field(default_factory=list)  # due µs, threshold s, lead key
    watched: set[str] = field(default_factory=set)

    def watch(self, lead_key: str, created_us: int, thresholds: Iterable[int], oldest_due_us: int) -> None:
        """Schedule a lead's thresholds once; breaches older than the alerts' retention are not raised."""
        if lead_key in self.watched:
            return
        self.watched.add(lead_key)
        for threshold in thresholds:
            due = created_us + threshold * 1_000_000
            if due >= oldest_due_us:
                heapq.heappush(self.heap, (due, threshold, lead_key))

    def pop_due(self, now_us: int) -> list[tuple[int, str]]:
        due: list[tuple[int, str]] = []
        heap = self.heap
        while heap and heap[0][0] <= now_us:
            _, threshold, lead_key = heapq.heappop(heap)
            due.append((threshold, lead_key))
        return due

    def retry(self, due: list[tuple[int, str]], at_us: int) -> None:
        """Put back alerts that could not be sent, due again right away."""
        for threshold, lead_key in due:
            heapq.heappush(self.heap, (at_us, threshold, lead_key))

    def __len__(self) -> int:
        return len(self.heap)

"""Alerts on slow lead responses (SPEC §5): one `lead.response_sla_breached` per lead and threshold,
within seconds of the breach, while the lead is still waiting.

Each entity partition keeps its waiting leads in due order, one entry a lead for its next threshold,
so a timer pops only what is due: no task per lead and no scan of all leads. What was already alerted
is read back from the alerts topic itself after every rebalance, so a restart neither repeats nor
loses an alert.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from agents.heaps import TimeHeap
from agents.kpis.business_time import TeamClock
from agents.kpis.model import CompactEvent, Entity, earliest
from agents.kpis.terms import current_owner, held_meetings, is_contact, lead_facts

ALERT_TYPE = "lead.response_sla_breached"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def rfc3339(at_us: int) -> str:
    return (_EPOCH + timedelta(microseconds=at_us)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def waiting_since(events: list[CompactEvent]) -> int | None:
    """The creation time of a lead still waiting for its first contact, else None (`LeadFacts.waiting`,
    as one scan: it runs on every change of a lead)."""
    created: CompactEvent | None = None
    completions: list[CompactEvent] = []
    for event in events:
        kind = event["y"]
        if kind == "lead.created":
            if created is None or (event["a"], event["i"]) < (created["a"], created["i"]):
                created = event
        elif kind in ("lead.disqualified", "deal.created") or is_contact(event):
            return None
        elif kind == "meeting.completed":
            completions.append(event)
    if created is None or held_meetings(completions):
        return None
    return created["a"]


def newly_waiting(events: list[CompactEvent], before: list[CompactEvent] | None) -> int | None:
    """The creation time to schedule a lead's deadlines at when its events went from `before` (None: the
    lead is new here, or being rebuilt) to `events`: once per lead, again only if an earlier
    `lead.created` moved its creation time. A lead never waits again once answered."""
    created = waiting_since(events)
    if created is None or (before is not None and waiting_since(before) == created):
        return None
    return created


def lead_team(events: list[CompactEvent]) -> str:
    """The team of a lead's `lead.created` (its earliest; the lead is known to have one)."""
    created = earliest(e for e in events if e["y"] == "lead.created")
    assert created is not None
    return created["T"]


def alert_for(
    lead_key: str, events: list[CompactEvent], threshold_s: int, now_us: int, clock: TeamClock | None = None
) -> dict[str, Any]:
    entity = Entity(lead_key, events)
    facts = lead_facts(entity)
    if facts is None:
        raise ValueError(f"{lead_key}: no lead.created, no alert")
    lead_id = lead_key[1:]
    return {
        "type": ALERT_TYPE,
        "event_id": f"sla-{threshold_s}-{lead_id}",
        "lead_id": lead_id,
        "team_id": facts.team,
        "rep_id": current_owner(entity, facts),
        "created_at": rfc3339(facts.created_at),
        "threshold_s": threshold_s,
        "detected_at": rfc3339(now_us),
        "clock": "wall" if clock is None else clock.clock_at(now_us),
        "waited_s": round(
            (now_us - facts.created_at if clock is None else clock.business_us(facts.created_at, now_us)) / 1e6, 3
        ),
    }


@dataclass(slots=True)
class _Queue:
    """Leads due `offset_us` after their time, earliest first; a popped one moves on to `following`."""

    threshold: int
    offset_us: int
    following: _Queue | None = None
    heap: TimeHeap[str] = field(default_factory=TimeHeap)  # time µs, lead key

    def head(self) -> tuple[int, int, str]:
        """The first deadline, ordered like the alerts it raises: due time, threshold, lead."""
        at_us, lead_key = self.heap.first()
        return at_us + self.offset_us, self.threshold, lead_key

    def deadlines(self) -> int:
        """Deadlines of the leads in this queue, their later thresholds included."""
        per_lead, later = 1, self.following
        while later is not None:
            per_lead, later = per_lead + 1, later.following
        return len(self.heap) * per_lead


@dataclass
class Deadlines:
    """Due times of one partition's waiting leads, earliest first.

    A lead waits in one queue at a time, that of its next threshold, as created µs and lead key: within
    a queue creation order is due order, and the creation time is the int its lead's events already
    hold. Popping a threshold queues the lead for the next one. Each `watch` schedules: the alert stage
    watches a lead once (`newly_waiting`), so no set of watched leads grows here with every lead seen."""

    schedules: dict[tuple[int, ...], list[_Queue]] = field(default_factory=dict)  # sorted thresholds
    retries: dict[int, _Queue] = field(default_factory=dict)  # threshold -> alerts to send again
    queues: list[_Queue] = field(default_factory=list)
    # Leads of teams with a calendar, put off to their due time on the SLA clock: (due µs, threshold,
    # created µs, lead key). A wait on the SLA clock is never shorter than on the wall clock, so every lead
    # first falls due on the wall clock's queues above and is put off here when its calendar says so.
    later: list[tuple[int, int, int, str]] = field(default_factory=list)

    def put_off(self, due_us: int, threshold: int, created_us: int, lead_key: str) -> None:
        heapq.heappush(self.later, (due_us, threshold, created_us, lead_key))

    def recheck(self) -> None:
        """A calendar changed: every put-off lead is due again at its wall-clock time, to be put off anew."""
        self.later = [
            (created + threshold * 1_000_000, threshold, created, key) for _, threshold, created, key in self.later
        ]
        heapq.heapify(self.later)

    def watch(self, lead_key: str, created_us: int, thresholds: Iterable[int], oldest_due_us: int) -> None:
        """Schedule a lead's thresholds; breaches older than the alerts' retention are not raised."""
        schedule = tuple(sorted(set(thresholds)))
        chain = self.schedules.get(schedule)
        if chain is None:
            chain = self.schedules[schedule] = self._chain(schedule)
        for queue in chain:
            if created_us + queue.offset_us >= oldest_due_us:
                queue.heap.push(created_us, lead_key)
                return

    def pop_due(self, now_us: int) -> list[tuple[int, str]]:
        due: list[tuple[int, str]] = []
        later = self.later
        while later and later[0][0] <= now_us:
            _, threshold, _, lead_key = heapq.heappop(later)
            due.append((threshold, lead_key))
        while True:
            queue = min((q for q in self.queues if q.heap), key=_Queue.head, default=None)
            if queue is None or queue.head()[0] > now_us:
                return due
            created_us, lead_key = queue.heap.pop()
            if queue.following is not None:
                queue.following.heap.push(created_us, lead_key)
            due.append((queue.threshold, lead_key))

    def retry(self, due: list[tuple[int, str]], at_us: int) -> None:
        """Put back alerts that could not be sent, due again right away."""
        for threshold, lead_key in due:
            queue = self.retries.get(threshold)
            if queue is None:
                queue = self.retries[threshold] = _Queue(threshold, 0)
                self.queues.append(queue)
            queue.heap.push(at_us, lead_key)

    def _chain(self, schedule: tuple[int, ...]) -> list[_Queue]:
        """One queue per threshold, each leading to the next."""
        chain: list[_Queue] = []
        for threshold in reversed(schedule):
            chain.insert(0, _Queue(threshold, threshold * 1_000_000, chain[0] if chain else None))
        self.queues.extend(chain)
        return chain

    def __len__(self) -> int:
        return sum(queue.deadlines() for queue in self.queues)

"""Waiting leads are watched by due time: a tick touches only what fell due, never all leads."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from agents.alerts.deadlines import Deadlines, alert_for, newly_waiting, waiting_since
from agents.alerts.stage import AlertStage
from agents.entities.state import compact, encode_state, entity_keys
from agents.kpis.model import CompactEvent, Entity
from agents.kpis.terms import lead_facts
from agents.kpis.windows import now_us
from agents.routing import SEP
from streams.kafka.buffered import MemoryTable
from streams.records import decode_event
from streams.settings import load_settings
from streams.sim.simulator import FloorConfig, generate

S = 1_000_000


def test_a_tick_pops_only_what_is_due_among_100_000_waiting_leads() -> None:
    deadlines = Deadlines()
    for n in range(100_000):
        deadlines.watch(f"Llead-{n}", created_us=n * S, thresholds=(300, 3600), oldest_due_us=0)
    assert len(deadlines) == 200_000
    due = deadlines.pop_due(now_us=399 * S)  # leads 0..99 reached 300 s
    assert sorted(due) == sorted((300, f"Llead-{n}") for n in range(100))
    assert len(deadlines) == 200_000 - 100
    assert deadlines.pop_due(now_us=399 * S) == []


def test_stale_breaches_are_skipped() -> None:
    deadlines = Deadlines()
    deadlines.watch("LA", created_us=1000 * S, thresholds=(300, 3600), oldest_due_us=2000 * S)
    assert deadlines.pop_due(now_us=10_000 * S) == [(3600, "LA")]  # the 300 s breach is older than retention


def event(i: str, kind: str, at: int, **extra: object) -> dict[str, object]:
    return {"i": i, "y": kind, "a": at * S, "T": "north", "R": extra.pop("R", "ann"), **extra}


def test_waiting_until_contacted_disqualified_or_converted() -> None:
    created = event("e1", "lead.created", 10, L="L1")
    assert waiting_since([created]) == 10 * S
    assert waiting_since([]) is None
    inbound_missed = event("e2", "call.completed", 20, L="L1", C="c", d="inbound", o="no_answer", s=0)
    assert waiting_since([created, inbound_missed]) == 10 * S
    for stop in (
        event("e3", "call.completed", 20, L="L1", C="c", d="outbound", o="busy", s=0),
        event("e4", "email.sent", 20, L="L1", E="m"),
        event("e5", "lead.disqualified", 20, L="L1", R=None),
        event("e6", "deal.created", 20, L="L1", D="d", m=1),
    ):
        assert waiting_since([created, stop]) is None


def test_alert_names_the_current_owner() -> None:
    events = [event("e1", "lead.created", 10, L="L1"), event("e2", "lead.assigned", 50, L="L1", R="bob")]
    alert = alert_for("LL1", events, 300, now_us=311 * S)
    assert alert == {
        "type": "lead.response_sla_breached",
        "event_id": "sla-300-L1",
        "lead_id": "L1",
        "team_id": "north",
        "rep_id": "bob",
        "created_at": "1970-01-01T00:00:10.000Z",
        "threshold_s": 300,
        "detected_at": "1970-01-01T00:05:11.000Z",
        "clock": "wall",
        "waited_s": 301.0,
    }


def test_alerts_that_could_not_be_sent_are_due_again() -> None:
    deadlines = Deadlines()
    deadlines.watch("LA", created_us=0, thresholds=(300,), oldest_due_us=0)
    due = deadlines.pop_due(now_us=400 * S)
    assert due == [(300, "LA")] and deadlines.pop_due(now_us=401 * S) == []
    deadlines.retry(due, 401 * S)
    assert deadlines.pop_due(now_us=401 * S) == [(300, "LA")]


def test_everything_due_pops_in_due_order_each_lead_and_threshold_once() -> None:
    deadlines = Deadlines()
    deadlines.watch("LB", created_us=500 * S, thresholds=(3600, 300), oldest_due_us=0)
    deadlines.watch("LA", created_us=0, thresholds=(300, 3600), oldest_due_us=0)
    assert len(deadlines) == 4
    assert deadlines.pop_due(now_us=4200 * S) == [(300, "LA"), (300, "LB"), (3600, "LA"), (3600, "LB")]
    assert deadlines.pop_due(now_us=10**12) == [] and len(deadlines) == 0


def test_a_lead_is_watched_when_it_starts_waiting_and_when_its_creation_moves_earlier() -> None:
    """What keeps a lead scheduled once without a set of every lead ever watched."""
    created = event("e1", "lead.created", 10, L="L1")
    assigned = event("e2", "lead.assigned", 50, L="L1", R="bob")
    earlier = event("e0", "lead.created", 5, L="L1")
    call = event("e3", "call.completed", 20, L="L1", C="c", d="outbound", o="busy", s=0)
    assert newly_waiting([created], None) == 10 * S
    assert newly_waiting([created, assigned], [created]) is None  # still waiting since 10 s: scheduled
    assert newly_waiting([created, assigned, earlier], [created, assigned]) == 5 * S
    assert newly_waiting([created, assigned], None) == 10 * S  # rebuilt after a rebalance
    assert newly_waiting([call], None) is None
    assert newly_waiting([call, created], [call]) is None  # answered before its creation arrived
    assert newly_waiting([created, call], [created]) is None


def test_every_waiting_lead_is_watched_at_its_final_creation_time() -> None:
    """Each simulated lead's events arriving one by one in a shuffled order: a waiting lead was last
    watched at the creation time its final events wait since, and no lead more often than it has
    `lead.created` events."""
    rng = random.Random(5)
    for key, events in simulated_leads().items():
        rng.shuffle(events)
        watched = [
            created
            for n in range(len(events))
            if (created := newly_waiting(events[: n + 1], events[:n] if n else None)) is not None
        ]
        final = waiting_since(events)
        assert final is None or watched[-1] == final, key
        assert len(watched) <= sum(e["y"] == "lead.created" for e in events), key


def reference_pops(
    watches: list[tuple[str, int]], thresholds: tuple[int, ...], oldest_due_us: int, ticks: list[int]
) -> list[list[tuple[int, str]]]:
    """The plain model: every (lead, threshold) due time of every watch, in one sorted list."""
    pending = []
    for lead_key, created_us in watches:
        due = [(created_us + t * S, t, lead_key) for t in thresholds]
        pending += [d for d in due if d[0] >= oldest_due_us]
    pending.sort()
    pops = []
    for now in ticks:
        pops.append([(t, k) for d, t, k in pending if d <= now])
        pending = [p for p in pending if p[0] > now]
    return pops


@given(
    st.lists(st.tuples(st.sampled_from(["LA", "LB", "LC", "LD", "LE"]), st.integers(0, 8000)), max_size=30),
    st.sets(st.integers(1, 4000), min_size=1, max_size=4),
    st.integers(0, 6000),
    st.lists(st.integers(0, 15_000), max_size=6),
)
def test_pops_equal_the_plain_model(
    watches: list[tuple[str, int]], thresholds: set[int], oldest_s: int, ticks_s: list[int]
) -> None:
    deadlines = Deadlines()
    for lead_key, created_s in watches:
        deadlines.watch(lead_key, created_s * S, tuple(thresholds), oldest_s * S)
    ticks = [t * S for t in sorted(ticks_s)]
    expected = reference_pops([(k, c * S) for k, c in watches], tuple(sorted(thresholds)), oldest_s * S, ticks)
    assert [deadlines.pop_due(now) for now in ticks] == expected


def test_alerts_put_back_pop_in_due_order_with_the_others() -> None:
    deadlines = Deadlines()
    deadlines.watch("LA", created_us=0, thresholds=(300, 600), oldest_due_us=0)
    deadlines.watch("LB", created_us=200 * S, thresholds=(300, 600), oldest_due_us=0)
    assert deadlines.pop_due(now_us=300 * S) == [(300, "LA")]
    deadlines.retry([(300, "LA")], 550 * S)
    assert deadlines.pop_due(now_us=700 * S) == [(300, "LB"), (300, "LA"), (600, "LA")]
    assert len(deadlines) == 1


def test_a_breach_due_right_at_the_retention_edge_is_still_raised() -> None:
    deadlines = Deadlines()
    deadlines.watch("LA", created_us=1000 * S, thresholds=(300, 3600), oldest_due_us=1300 * S)
    assert deadlines.pop_due(now_us=1300 * S) == [(300, "LA")]


def test_waiting_since_agrees_with_the_lead_facts() -> None:
    """The alerts' one-scan check says what `LeadFacts.waiting` says, for every simulated lead."""
    leads = simulated_leads()
    waiting = 0
    for key, events in leads.items():
        facts = lead_facts(Entity(key, events))
        expected = facts.created_at if facts is not None and facts.waiting else None
        assert waiting_since(events) == expected, key
        waiting += expected is not None
    assert 0 < waiting < len(leads)


def simulated_leads() -> dict[str, list[CompactEvent]]:
    """A simulated day's leads: lead key -> its compact events."""
    end = datetime(2026, 11, 30, 20, tzinfo=timezone.utc)
    config = FloorConfig(seed=5, teams=2, reps_per_team=4, start=end - timedelta(days=1), end=end, tz="UTC")
    leads: dict[str, list[CompactEvent]] = {}
    for raw in generate(config):
        event = compact(decode_event(orjson.dumps(raw)))
        for key in entity_keys(event):
            if key[0] == "L":
                leads.setdefault(key, []).append(event)
    return leads


async def test_a_lead_queued_twice_is_alerted_once_per_threshold() -> None:
    """A lead whose creation moved earlier waits in a queue at both times; both fall due in one round."""
    now = now_us()
    later = event("e1", "lead.created", 0, L="L1") | {"a": now - 3000 * S}
    earlier = event("e0", "lead.created", 0, L="L1") | {"a": now - 3500 * S}
    table = MemoryTable()
    sent: list[tuple[str, int]] = []

    async def send(_key: bytes, alert: dict[str, Any]) -> None:
        sent.append((alert["lead_id"], alert["threshold_s"]))

    stage = AlertStage(load_settings(), table, "alerts", send, on_breach=lambda _team, _threshold: None)
    stage.alerted = set()  # nothing sent before: no read-back
    table_key = f"0{SEP}LL1"
    stage.watch(0, table_key, [later], None)
    stage.watch(0, table_key, [later, earlier], [later])
    table.put(table_key, 0, encode_state({"e": [later, earlier]}))
    await stage.raise_due({0})
    assert sent == [("L1", 300)]

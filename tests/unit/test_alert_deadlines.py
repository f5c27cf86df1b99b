"""Waiting leads are watched by due time: a tick touches only what fell due, never all leads."""

from __future__ import annotations

from agents.alerts import Deadlines, alert_for, waiting_since

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


def test_a_lead_is_scheduled_once_and_stale_breaches_are_skipped() -> None:
    deadlines = Deadlines()
    deadlines.watch("LA", created_us=1000 * S, thresholds=(300, 3600), oldest_due_us=2000 * S)
    deadlines.watch("LA", created_us=1000 * S, thresholds=(300, 3600), oldest_due_us=0)
    assert deadlines.pop_due(now_us=10_000 * S) == [(3600, "LA")]  # the 300 s breach is older than retention


def event(i: str, kind: str, at: int, **extra: object) -> dict[str, object]:
    return {"i": i, "y": kind, "a": at * S, "T": "north", "R": extra.pop("R", "ann"), **extra}


def test_waiting_until_contacted_disqualified_or_converted() -> None:
    created = event("e1", "lead.created", 10, L="L1")
    assert waiting_since([created]) == 10 * S
    assert waiting_since([]) is None
    inbound_missed = event("e2", "call.completed", 20, L="L1", C="c", d="inbound", o="no_answer", s=0)
    assert waiting_since([created, inbound_missed]) == 10 * S
    for stop in (event("e3", "call.completed", 20, L="L1", C="c", d="outbound", o="busy", s=0),
                 event("e4", "email.sent", 20, L="L1", E="m"),
                 event("e5", "lead.disqualified", 20, L="L1", R=None),
                 event("e6", "deal.created", 20, L="L1", D="d", m=1)):
        assert waiting_since([created, stop]) is None


def test_alert_names_the_current_owner() -> None:
    events = [event("e1", "lead.created", 10, L="L1"), event("e2", "lead.assigned", 50, L="L1", R="bob")]
    alert = alert_for("LL1", events, 300, now_us=311 * S)
    assert alert == {
        "type": "lead.response_sla_breached", "event_id": "sla-300-L1", "lead_id": "L1", "team_id": "north",
        "rep_id": "bob", "created_at": "1970-01-01T00:00:10.000Z", "threshold_s": 300,
        "detected_at": "1970-01-01T00:05:11.000Z",
    }


def test_alerts_that_could_not_be_sent_are_due_again() -> None:
    deadlines = Deadlines()
    deadlines.watch("LA", created_us=0, thresholds=(300,), oldest_due_us=0)
    due = deadlines.pop_due(now_us=400 * S)
    assert due == [(300, "LA")] and deadlines.pop_due(now_us=401 * S) == []
    deadlines.retry(due, 401 * S)
    assert deadlines.pop_due(now_us=401 * S) == [(300, "LA")]

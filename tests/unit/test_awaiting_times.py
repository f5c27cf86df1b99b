"""The oldest awaiting lead of a team and of the floor: kept as a multiset of creation times that moves
by exactly the contributions' differences, and read at every ship without a scan of all leads."""

from __future__ import annotations

from collections import Counter
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from agents.entities.state import AwaitingTimes, PartialAggregates
from agents.kpis import kpis_for
from agents.kpis.model import ALL, LIVE, difference
from agents.kpis.response import OLDEST_AWAITING, OLDEST_OF

S = 1_000_000
KPIS = kpis_for(ZoneInfo("UTC"), 300 * S)


def lead(lead_id: str, created_s: int, *later: dict[str, object]) -> list[dict[str, object]]:
    created = {"i": f"{lead_id}-c", "y": "lead.created", "a": created_s * S, "T": "north", "R": "ann", "L": lead_id}
    return [created, *later]


def answered(lead_id: str, at_s: int) -> dict[str, object]:
    return {
        "i": f"{lead_id}-e",
        "y": "email.sent",
        "a": at_s * S,
        "T": "north",
        "R": "ann",
        "L": lead_id,
        "E": f"{lead_id}-m",
    }


def change(partial: PartialAggregates, key: str, old: list[dict[str, object]], new: list[dict[str, object]]) -> None:
    before = KPIS.contribution(key, old) if old else {}
    partial.apply(difference(KPIS.contribution(key, new), before))


def live(partial: PartialAggregates, team: str) -> dict[str, int]:
    return partial.snapshot((team, ALL, LIVE))


def test_the_oldest_awaiting_lead_moves_on_when_it_is_answered() -> None:
    partial = PartialAggregates()
    leads = {"L1": lead("L1", 100), "L2": lead("L2", 50), "L3": lead("L3", 70), "L4": lead("L4", 50)}
    for lead_id, events in leads.items():
        change(partial, "L" + lead_id, [], events)
    assert live(partial, "north") == {"aw": 4, OLDEST_AWAITING: 50 * S}
    assert live(partial, ALL) == {"aw": 4, OLDEST_AWAITING: 50 * S, OLDEST_OF + "north": 50 * S}  # its team's too
    change(partial, "LL2", leads["L2"], [*leads["L2"], answered("L2", 80)])
    assert live(partial, "north")[OLDEST_AWAITING] == 50 * S  # L4 was created at the same time
    change(partial, "LL4", leads["L4"], [*leads["L4"], answered("L4", 80)])
    assert live(partial, "north") == {"aw": 2, OLDEST_AWAITING: 70 * S}
    for lead_id in ("L1", "L3"):
        change(partial, "L" + lead_id, leads[lead_id], [*leads[lead_id], answered(lead_id, 200)])
    assert live(partial, "north") == {} and live(partial, ALL) == {}
    assert partial.awaiting == {}  # nothing left behind once no lead waits


def test_an_earlier_duplicate_creation_moves_the_lead_not_its_count() -> None:
    partial = PartialAggregates()
    first = lead("L1", 100)
    change(partial, "LL1", [], first)
    earlier = [*first, {**first[0], "i": "L1-c2", "a": 40 * S}]
    change(partial, "LL1", first, earlier)
    assert live(partial, "north") == {"aw": 1, OLDEST_AWAITING: 40 * S}
    change(partial, "LL1", earlier, [*earlier, answered("L1", 120)])
    assert live(partial, "north") == {}


def test_many_answered_leads_leave_a_heap_no_bigger_than_twice_the_waiting_ones() -> None:
    times = AwaitingTimes()
    for n in range(10_000):
        times.add(n, 1)
    for n in range(1, 10_000):  # all but the oldest answered: none of them reaches the top
        times.add(n, -1)
        assert len(times.heap) <= 2 * (10_000 - n) + 17
    assert times.oldest() == 0 and len(times.heap) <= 17


@given(st.lists(st.tuples(st.integers(0, 20), st.sampled_from((1, -1, 2, -2))), max_size=300), st.booleans())
def test_the_oldest_is_the_least_time_with_a_positive_count(changes: list[tuple[int, int]], read: bool) -> None:
    """Any sequence of count changes, even ones taking a count below zero, read after each or at the end."""
    times, counts = AwaitingTimes(), Counter[int]()
    for created, count in changes:
        times.add(created, count)
        counts[created] += count
        if read:
            assert times.oldest() == min((t for t, c in counts.items() if c > 0), default=None)
    assert times.oldest() == min((t for t, c in counts.items() if c > 0), default=None)

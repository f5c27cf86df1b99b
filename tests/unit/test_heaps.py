"""`TimeHeap` pops what `heapq` pops on (time, item) tuples, in any order of pushes and pops."""

from __future__ import annotations

import heapq

from hypothesis import given
from hypothesis import strategies as st

from agents.heaps import TimeHeap

OPERATIONS = st.lists(
    st.one_of(st.tuples(st.integers(-5, 40), st.sampled_from("abcde")), st.none()),  # a push, or None: a pop
    max_size=200,
)


@given(OPERATIONS)
def test_pops_equal_heapq_on_tuples(operations: list[tuple[int, str] | None]) -> None:
    heap: TimeHeap[str] = TimeHeap()
    model: list[tuple[int, str]] = []
    for operation in operations:
        if operation is not None:
            heap.push(*operation)
            heapq.heappush(model, operation)
        elif model:
            assert heap.first() == model[0]
            assert heap.pop() == heapq.heappop(model)
        assert len(heap) == len(model)
    assert [heap.pop() for _ in range(len(heap))] == sorted(model)


def test_big_times_and_many_pairs() -> None:
    heap: TimeHeap[str] = TimeHeap()
    times = [(n * 7919) % 10_007 * 10**12 + 1_765_000_000_000_000 for n in range(10_007)]
    for n, at in enumerate(times):
        heap.push(at, f"L{n}")
    assert [heap.pop()[0] for _ in range(len(times))] == sorted(times)


@given(st.lists(st.integers(0, 50), max_size=60), OPERATIONS)
def test_a_heap_of_sorted_times_goes_on_like_heapq(times: list[int], operations: list[tuple[int, str] | None]) -> None:
    heap = TimeHeap.of_sorted(sorted(times), "c")
    model = [(at, "c") for at in sorted(times)]
    for operation in operations:
        if operation is not None:
            heap.push(*operation)
            heapq.heappush(model, operation)
        elif model:
            assert heap.pop() == heapq.heappop(model)
    assert [heap.pop() for _ in range(len(heap))] == sorted(model)

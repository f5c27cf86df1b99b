"""A min-heap of (time, item) pairs for state kept per waiting lead, at 16 bytes a pair."""

from __future__ import annotations

from array import array
from typing import Generic, TypeVar

T = TypeVar("T", bound=str)


class TimeHeap(Generic[T]):
    """Pairs of a time (an int of 64 bits, e.g. µs) and an item, smallest first, ties by item: as
    `heapq` on `(time, item)` tuples pops them, without a tuple (56 bytes) and an int (32) per pair.
    The times live in an array beside a list of the items; pushing a time no earlier than most (as
    leads arrive, mostly in time order) moves nothing."""

    __slots__ = ("items", "times")

    def __init__(self) -> None:
        self.times = array("q")
        self.items: list[T] = []

    @classmethod
    def of_sorted(cls, times: list[int], item: T) -> TimeHeap[T]:
        """A heap of times already in order (a sorted array is a heap), each paired with `item`."""
        heap: TimeHeap[T] = cls()
        heap.times.extend(times)
        heap.items = [item] * len(times)
        return heap

    def __len__(self) -> int:
        return len(self.times)

    def first(self) -> tuple[int, T]:
        return self.times[0], self.items[0]

    def push(self, at: int, item: T) -> None:
        times, items = self.times, self.items
        times.append(at)
        items.append(item)
        pos = len(times) - 1
        while pos:
            parent = (pos - 1) >> 1
            parent_at = times[parent]
            if parent_at < at or (parent_at == at and items[parent] <= item):
                break
            times[pos], items[pos] = parent_at, items[parent]
            pos = parent
        times[pos], items[pos] = at, item

    def pop(self) -> tuple[int, T]:
        times, items = self.times, self.items
        at, item = times.pop(), items.pop()
        if not times:
            return at, item
        first = times[0], items[0]
        end, pos = len(times), 0
        while True:
            child = 2 * pos + 1
            if child >= end:
                break
            right = child + 1
            if right < end and (
                times[right] < times[child] or (times[right] == times[child] and items[right] < items[child])
            ):
                child = right
            child_at = times[child]
            if child_at > at or (child_at == at and items[child] >= item):
                break
            times[pos], items[pos] = child_at, items[child]
            pos = child
        times[pos], items[pos] = at, item
        return first

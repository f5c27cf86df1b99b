"""The aggregates this worker owns, merged across entity partitions, ready to read at scrape time."""

from __future__ import annotations

from collections.abc import Mapping
from sys import intern
from typing import Any

from agents.kpis.response import OLDEST_AWAITING
from agents.routing import SEP


class AggregateView:
    """team/rep → bucket → fields, summed over the entity partitions' latest snapshots."""

    def __init__(self) -> None:
        self.buckets: dict[tuple[str, str], dict[str, dict[str, int]]] = {}
        self.partition_of: dict[tuple[str, str], int] = {}
        self.puts: dict[tuple[str, str], int] = {}

    def put(self, partition: int, team: str, rep: str, bucket: str, record: Mapping[str, Any]) -> None:
        key = (team, rep)
        self.partition_of[key] = partition
        self.buckets.setdefault(key, {})[intern(bucket)] = merge(record)
        self.puts[key] = self.puts.get(key, 0) + 1

    def change(
        self,
        partition: int,
        team: str,
        rep: str,
        bucket: str,
        record: Mapping[str, Any],
        old: Mapping[str, int] | None,
        new: Mapping[str, int],
    ) -> None:
        """`put`, when one source of `record` went from fields `old` (None: it had none) to `new`: the
        merged bucket moves by the difference instead of being summed again over every source."""
        key = (team, rep)
        buckets = self.buckets.get(key, {})
        merged = buckets.get(bucket)
        if merged is None or self.partition_of.get(key) != partition:
            self.put(partition, team, rep, bucket, record)
            return
        # A new dict (readers such as the PaceReader keep what they derived from a bucket while it is the
        # same object), moved by the fields that differ.
        merged = buckets[bucket] = dict(merged)
        old = old or {}
        minimums = False
        for name, value in new.items():
            before = old.get(name, 0)
            if value != before:
                if name.startswith(OLDEST_AWAITING):
                    minimums = True
                else:
                    _move(merged, name, value - before)
        for name, before in old.items():
            if name not in new:
                if name.startswith(OLDEST_AWAITING):
                    minimums = True
                else:
                    _move(merged, name, -before)
        if minimums:  # the oldest awaiting creations are minimums over the sources: `merge` takes them again
            for name in [name for name in merged if name.startswith(OLDEST_AWAITING)]:
                del merged[name]
            merged.update((name, value) for name, value in merge(record).items() if name.startswith(OLDEST_AWAITING))
        self.puts[key] = self.puts.get(key, 0) + 1

    def drop(self, partitions: set[int]) -> None:
        """Forget the team/reps of these partitions: no longer owned here, or about to be restored. A merged
        bucket moves by each source's change (`change`), so one kept from an earlier ownership of the
        partition would count again what its restore and replay bring back (seen: every KPI of a partition
        doubled after it moved away and back while its changelog lacked keys not yet flushed)."""
        for key in [k for k, p in self.partition_of.items() if p in partitions]:
            self.buckets.pop(key, None)
            del self.partition_of[key]
            self.puts[key] = self.puts.get(key, 0) + 1  # what readers derived from it is out of date

    def apply(self, partition: int, table_key: str, record: Mapping[str, Any] | None) -> None:
        """One record of the aggregates table (`team SEP rep SEP bucket`); None, a tombstone, deletes it."""
        team, rep, bucket = table_key.split(SEP)
        if record is None:
            self.buckets.get((team, rep), {}).pop(bucket, None)
        else:
            self.put(partition, team, rep, bucket, record)

    def version(self, key: tuple[str, str]) -> tuple[int, int]:
        """Differs from an earlier value whenever the key's buckets may have changed since, so readers
        can cache what they derive: every put counts, and expiry deletes buckets in place (fewer)."""
        return self.puts.get(key, 0), len(self.buckets.get(key, ()))


def _move(fields: dict[str, int], name: str, change: int) -> None:
    total = fields.get(name, 0) + change
    if total:
        fields[name] = total
    else:
        fields.pop(name, None)


def merge(record: Mapping[str, Any]) -> dict[str, int]:
    """Sum one bucket's fields over its sources; the oldest awaiting creations are minimums."""
    merged: dict[str, int] = {}
    for entry in record.values():  # [version, fields], or a month rollup's [0, fields, days]
        fields = entry[1]
        for name, value in fields.items():
            if name.startswith(OLDEST_AWAITING):  # the floor's oldest of each team (`ao:<team>`) too
                current = merged.get(name)
                merged[name] = value if current is None else min(current, value)
            else:
                merged[name] = merged.get(name, 0) + value
    return {name: value for name, value in merged.items() if value}

"""Which team/rep rows a worker exports: the keys of its aggregate partitions, with reps past the
cap folded into `rep="_other"` per team (SPEC §6)."""

from __future__ import annotations

from collections.abc import Mapping

from agents.aggregates.view import AggregateView
from agents.export.source import Worker
from agents.kpis.model import ALL, Fields
from agents.kpis.windows import sum_fields
from agents.routing import aggregate_partition

OTHER = "_other"
Row = tuple[str, str, list[str] | None]  # team, rep, and for a team's `_other` the reps folded into it


def owned_rows(worker: Worker) -> list[Row]:
    """The team/rep keys this worker exports (its aggregate partitions, and the floor even when empty),
    capped: the keys kept as their own series, then per team the reps folded into `_other`."""
    view = worker.view
    assigned = worker.assigned_aggregate_partitions()
    keys = [key for key, p in view.partition_of.items() if p in assigned]
    floor = (ALL, ALL)
    if floor not in view.buckets and aggregate_partition(ALL, ALL, worker.settings.partitions) in assigned:
        keys.append(floor)
    kept, folded = cap_reps(keys, worker.settings.max_reps)
    rows: list[Row] = [(team, rep, None) for team, rep in kept]
    return rows + [(team, OTHER, reps) for team, reps in folded.items()]


def row_buckets(view: AggregateView, team: str, rep: str, folded: list[str] | None) -> Mapping[str, Fields]:
    """A row's buckets; for `_other` those of its folded reps, summed field by field."""
    if folded is None:
        return view.buckets.get((team, rep), {})
    merged: dict[str, dict[str, int]] = {}
    for folded_rep in folded:
        for bucket, fields in view.buckets.get((team, folded_rep), {}).items():
            merged[bucket] = sum_fields({"a": merged.get(bucket, {}), "b": fields}, ("a", "b"))
    return merged


def cap_reps(keys: list[tuple[str, str]], max_reps: int) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """Keep at most `max_reps` distinct reps as their own series; fold the rest into `_other` per team.

    Reserved names (`_all`, `_unassigned`: ids never start with `_`) are aggregates, not reps: they
    neither count toward the limit nor get folded."""
    reps = sorted({rep for _, rep in keys if not rep.startswith("_")})
    if len(reps) <= max_reps:
        return keys, {}
    allowed = set(reps[:max_reps])
    kept: list[tuple[str, str]] = []
    folded: dict[str, list[str]] = {}
    for team, rep in keys:
        if rep.startswith("_") or rep in allowed:
            kept.append((team, rep))
        else:
            folded.setdefault(team, []).append(rep)
    return kept, folded

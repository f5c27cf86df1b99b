"""KPI gauges built at scrape time from the aggregates this worker owns (a custom collector), so
every series comes from exactly one worker and moves with its partition on a rebalance."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import TYPE_CHECKING, Any

from aiokafka.partitioner import murmur2
from faust.types import TP
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agents.contributions import ALL
from agents.kpis import Series, series_for, sum_fields
from agents.kpis import now_us as wall_now_us

if TYPE_CHECKING:
    from agents.pipeline import Pipeline

OTHER = "_other"
HELP = {
    "salesfloor_lead_response_seconds": "Lead response time (first contact - creation), by stat.",
    "salesfloor_leads_awaiting_response": "Leads waiting for a first contact now, by current owner.",
    "salesfloor_lead_oldest_awaiting_seconds": "Wall-clock age of the oldest lead waiting for a first contact.",
    "salesfloor_pipeline_open_amount": "Amount of deals created and not yet won or lost.",
}


def owned_series(pipeline: Pipeline, *, day: date | None = None, now_us: int | None = None) -> Iterator[Series]:
    """Every KPI series of the team/rep keys whose aggregate partition this worker owns."""
    view = pipeline.view
    assigned = pipeline.assigned_aggregate_partitions()
    partitions = pipeline.settings.partitions
    now = wall_now_us() if now_us is None else now_us
    keys = [key for key, p in view.partition_of.items() if p in assigned]
    floor = (ALL, ALL)
    if floor not in view.buckets and aggregate_partition(ALL, ALL, partitions) in assigned:
        keys.append(floor)
    kept, folded = cap_reps(keys, pipeline.settings.max_reps)
    for team, rep in kept:
        yield from series_for(team, rep, view.buckets.get((team, rep), {}), now_us=now,
                              clock=pipeline.clock, day=day)
    for team, reps in folded.items():
        merged: dict[str, dict[str, int]] = {}
        for rep in reps:
            for bucket, fields in view.buckets.get((team, rep), {}).items():
                merged[bucket] = sum_fields({"a": merged.get(bucket, {}), "b": fields}, ("a", "b"))
        yield from series_for(team, OTHER, merged, now_us=now, clock=pipeline.clock, day=day)


def aggregate_partition(team: str, rep: str, partitions: int) -> int:
    """The aggregate partition of a team/rep key, as the producer's default partitioner picks it."""
    return (murmur2(f"{team}\x1f{rep}".encode()) & 0x7FFFFFFF) % partitions


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


def consumer_lag(app: Any) -> dict[TP, int]:
    """Messages behind the end of each assigned input partition (changelogs are read by recovery)."""
    consumer = app.consumer
    lag: dict[TP, int] = {}
    for tp in app.assignor.assigned_actives():
        if tp.topic.endswith("-changelog"):
            continue
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - the consumer has not fetched this partition yet
            highwater = None
        if highwater is None:
            lag[tp] = -1
            continue
        position = consumer._read_offset.get(tp)  # noqa: SLF001 - Faust exposes no public read position
        lag[tp] = max(0, highwater - (-1 if position is None else position) - 1)
    return lag


class LagCollector(Collector):
    """`salesfloor_consumer_lag{topic,partition}` at scrape time, for the partitions this worker owns."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("salesfloor_consumer_lag", "Messages behind the end of the partition.",
                                   labels=["topic", "partition"])
        for tp, lag in sorted(consumer_lag(self.app).items()):
            if lag >= 0:
                family.add_metric([tp.topic, str(tp.partition)], lag)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class KpiCollector(Collector):
    """Yields the KPI gauge families at scrape time."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for metric, labels, value in owned_series(self.pipeline):
            family = families.get(metric)
            if family is None:
                help_text = HELP.get(metric) or metric.removeprefix("salesfloor_").replace("_", " ") + "."
                family = families[metric] = GaugeMetricFamily(metric, help_text, labels=list(labels))
            family.add_metric(list(labels.values()), value)
        yield from families.values()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())

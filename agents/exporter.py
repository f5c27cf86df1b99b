"""KPI gauges built at scrape time from the aggregates this worker owns, so every series comes from
exactly one worker and moves with its partition on a rebalance. /metrics writes them with
`KpiExposition`; `KpiCollector` yields the same families through prometheus_client (the reference)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from aiokafka.partitioner import murmur2
from faust.types import TP
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from agents.contributions import ALL, MINUTE_US
from agents.kpis import Fields, Series, series_for, sum_fields
from agents.kpis import now_us as wall_now_us

if TYPE_CHECKING:
    from agents.pipeline import Pipeline
    from agents.view import AggregateView

Key = tuple[str, str]
OTHER = "_other"
format_value: Callable[[float], str] = floatToGoString  # exactly as generate_latest writes sample values
HELP = {
    "salesfloor_lead_response_seconds": "Lead response time (first contact - creation), by stat.",
    "salesfloor_leads_awaiting_response": "Leads waiting for a first contact now, by current owner.",
    "salesfloor_lead_oldest_awaiting_seconds": "Wall-clock age of the oldest lead waiting for a first contact.",
    "salesfloor_pipeline_open_amount": "Amount of deals created and not yet won or lost.",
}


Row = tuple[str, str, list[str] | None]  # team, rep, and for a team's `_other` the reps folded into it


def owned_series(pipeline: Pipeline, *, day: date | None = None, now_us: int | None = None) -> Iterator[Series]:
    """Every KPI series of the team/rep keys whose aggregate partition this worker owns."""
    now = wall_now_us() if now_us is None else now_us
    for team, rep, folded in owned_rows(pipeline):
        yield from series_for(team, rep, row_buckets(pipeline.view, team, rep, folded), now_us=now,
                              clock=pipeline.clock, day=day)


def key_series(
    pipeline: Pipeline, team: str, rep: str, *, day: date | None = None, now_us: int | None = None,
) -> Iterator[Series]:
    """The series `owned_series` exports with these team and rep labels, without building the others."""
    now = wall_now_us() if now_us is None else now_us
    for row_team, row_rep, folded in owned_rows(pipeline):
        if row_team == team and row_rep == rep:
            yield from series_for(team, rep, row_buckets(pipeline.view, team, rep, folded), now_us=now,
                                  clock=pipeline.clock, day=day)


def owned_rows(pipeline: Pipeline) -> list[Row]:
    """The team/rep keys this worker exports (its aggregate partitions, and the floor even when empty),
    capped: the keys kept as their own series, then per team the reps folded into `_other`."""
    view = pipeline.view
    assigned = pipeline.assigned_aggregate_partitions()
    keys = [key for key, p in view.partition_of.items() if p in assigned]
    floor = (ALL, ALL)
    if floor not in view.buckets and aggregate_partition(ALL, ALL, pipeline.settings.partitions) in assigned:
        keys.append(floor)
    kept, folded = cap_reps(keys, pipeline.settings.max_reps)
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


@functools.lru_cache(maxsize=1 << 16)
def aggregate_partition(team: str, rep: str, partitions: int) -> int:
    """The aggregate partition of a team/rep key, as the producer's default partitioner picks it
    (cached: murmur2 is pure Python, and every shipped bucket needs it)."""
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
    """Messages behind the end of each partition this worker reads: the input topics (read by the
    ingest consumer, agents/ingest.py) and the internal topics (changelogs are read by recovery)."""
    consumer = app.consumer
    ingest = getattr(app, "salesfloor_ingest", None)
    lag: dict[TP, int] = {TP(tp.topic, tp.partition): v for tp, v in ingest.lag().items()} if ingest else {}
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
                family = families[metric] = GaugeMetricFamily(metric, help_text(metric), labels=list(labels))
            family.add_metric(list(labels.values()), value)
        yield from families.values()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


def help_text(metric: str) -> str:
    return HELP.get(metric) or metric.removeprefix("salesfloor_").replace("_", " ") + "."


class KpiExposition:
    """The KPI gauges in the text exposition format, written directly and kept per team/rep until its
    aggregates change or the minute turns: prometheus_client's generic path takes ~0.5 s for 64k series.

    The text equals what `generate_latest` writes for `KpiCollector` (families in order of first
    appearance, labels sorted by name, values escaped and numbers formatted the same way). Rendering
    lets the event loop run every `SLICE_S`; each row (one team/rep, or a team's `_other`) is built
    in one go from one `now`, so it is consistent. Caching relies on `series_for` depending on the time
    only through the current minute, except the oldest-awaiting age of team rows (`rep="_all"`), which
    are therefore never kept."""

    SLICE_S = 0.005

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self._kept: dict[Key, tuple[Hashable, dict[str, str]]] = {}

    async def render(self, now_us: int | None = None) -> str:
        pipeline = self.pipeline
        view, clock = pipeline.view, pipeline.clock
        now = wall_now_us() if now_us is None else now_us
        minute = now // MINUTE_US
        previous: dict[Key, tuple[Hashable, dict[str, str]]] = self._kept
        keep: dict[Key, tuple[Hashable, dict[str, str]]] = {}
        families: dict[str, list[str]] = {}
        started = time.perf_counter()
        for team, rep, folded in owned_rows(pipeline):
            if time.perf_counter() - started > self.SLICE_S:
                await asyncio.sleep(0)
                started = time.perf_counter()
            key = (team, rep)
            if folded is None:
                version: Hashable = (minute, view.version(key))
            else:
                version = (minute, tuple((r, view.version((team, r))) for r in folded))
            cached = previous.get(key)
            if cached is not None and cached[0] == version:
                lines = cached[1]
            else:
                buckets = row_buckets(view, team, rep, folded)
                lines = sample_lines(series_for(team, rep, buckets, now_us=now, clock=clock))
            if rep != ALL:
                keep[key] = (version, lines)
            for metric, text in lines.items():
                families.setdefault(metric, []).append(text)
        self._kept = keep
        await asyncio.sleep(0)
        out: list[str] = []
        for metric, texts in families.items():
            out.append(f"# HELP {metric} {escape_help(help_text(metric))}\n# TYPE {metric} gauge\n")
            out.extend(texts)
        return "".join(out)


def sample_lines(series: Iterable[Series]) -> dict[str, str]:
    """Each metric's sample lines, in the order given."""
    lines: dict[str, list[str]] = {}
    label_texts: dict[tuple[tuple[str, str], ...], str] = {}
    last_labels: dict[str, str] | None = None
    text = ""
    for metric, labels, value in series:
        if labels is not last_labels:  # `series_for` passes one dict for all of a window's metrics
            items = tuple(labels.items())
            known = label_texts.get(items)
            if known is None:
                pairs = ",".join(f'{name}="{escape_label_value(v)}"' for name, v in sorted(items))
                known = label_texts[items] = f"{{{pairs}}}" if pairs else ""
            last_labels, text = labels, known
        lines.setdefault(metric, []).append(f"{metric}{text} {format_value(value)}\n")
    return {metric: "".join(chunk) for metric, chunk in lines.items()}


def escape_label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


def escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class RegistryWithoutKpis:
    """The registry's collectors but `KpiCollector`, whose families /metrics gets from `KpiExposition`
    (and without a target_info metric, which this worker does not set)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        collectors = list(self.registry._collector_to_names)  # noqa: SLF001 - the registry lists them nowhere else
        for collector in collectors:
            if not isinstance(collector, KpiCollector):
                yield from collector.collect()

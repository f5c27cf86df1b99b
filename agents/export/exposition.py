"""KPI gauges built at scrape time from the aggregates this worker owns, so every series comes from
exactly one worker and moves with its partition on a rebalance. /metrics writes them with
`KpiExposition`; `KpiCollector` yields the same families through prometheus_client (the reference
it is tested against)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from datetime import date

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from agents.export.rows import owned_rows, row_buckets
from agents.export.source import Worker
from agents.kpis.model import ALL, MINUTE_US, Fields, Series
from agents.kpis.windows import now_us as wall_now_us
from streams.kafka.internals import collectors

Key = tuple[str, str]
format_value: Callable[[float], str] = floatToGoString  # exactly as generate_latest writes sample values


def owned_series(worker: Worker, *, day: date | None = None, now_us: int | None = None) -> Iterator[Series]:
    """Every KPI series of the team/rep keys whose aggregate partition this worker owns."""
    now = wall_now_us() if now_us is None else now_us
    for team, rep, folded in owned_rows(worker):
        yield from worker.kpis.series_for(team, rep, row_buckets(worker.view, team, rep, folded), now_us=now, day=day)


def key_series(
    worker: Worker,
    team: str,
    rep: str,
    *,
    day: date | None = None,
    now_us: int | None = None,
    windows: tuple[str, ...] | None = None,
) -> Iterator[Series]:
    """The series `owned_series` exports with these team and rep labels (of `windows` only, if given),
    without building the others."""
    buckets = key_buckets(worker, team, rep)
    if buckets is not None:
        now = wall_now_us() if now_us is None else now_us
        yield from worker.kpis.series_for(team, rep, buckets, now_us=now, day=day, windows=windows)


def key_buckets(worker: Worker, team: str, rep: str) -> Mapping[str, Fields] | None:
    """The buckets of the row this worker exports with these labels, or None when it exports none."""
    for row_team, row_rep, folded in owned_rows(worker):
        if row_team == team and row_rep == rep:
            return row_buckets(worker.view, team, rep, folded)
    return None


class KpiCollector(Collector):
    """Yields the KPI gauge families at scrape time."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families: dict[str, GaugeMetricFamily] = {}
        for metric, labels, value in owned_series(self.worker):
            family = families.get(metric)
            if family is None:
                family = families[metric] = GaugeMetricFamily(
                    metric, help_text(self.worker, metric), labels=list(labels)
                )
            family.add_metric(list(labels.values()), value)
        yield from families.values()

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


def help_text(worker: Worker, metric: str) -> str:
    return worker.kpis.help.get(metric) or metric.removeprefix("salesfloor_").replace("_", " ") + "."


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

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self._kept: dict[Key, tuple[Hashable, dict[str, str]]] = {}

    async def render(self, now_us: int | None = None) -> str:
        return "".join(await self.pieces(now_us))

    async def pieces(self, now_us: int | None = None) -> list[str]:
        """The exposition text in pieces of at most a row's lines of one metric (`encoded_chunks`)."""
        worker = self.worker
        view, series_for = worker.view, worker.kpis.series_for
        now = wall_now_us() if now_us is None else now_us
        minute = now // MINUTE_US
        previous: dict[Key, tuple[Hashable, dict[str, str]]] = self._kept
        keep: dict[Key, tuple[Hashable, dict[str, str]]] = {}
        families: dict[str, list[str]] = {}
        started = time.perf_counter()
        for team, rep, folded in owned_rows(worker):
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
                lines = sample_lines(series_for(team, rep, buckets, now_us=now))
            if rep != ALL:
                keep[key] = (version, lines)
            for metric, text in lines.items():
                families.setdefault(metric, []).append(text)
        self._kept = keep
        await asyncio.sleep(0)
        out: list[str] = []
        for metric, texts in families.items():
            out.append(f"# HELP {metric} {escape_help(help_text(worker, metric))}\n# TYPE {metric} gauge\n")
            out.extend(texts)
        return out


def encoded_chunks(pieces: Iterable[str], size: int) -> Iterator[bytes]:
    """The pieces encoded in chunks of about `size` bytes. /metrics with 1,000 reps is 11 MB: sent as one
    body it took three 11 MB buffers a scrape (the text, its encoding, the body), each a fresh mapping from
    the OS, since glibc maps blocks past a fixed threshold (`agents/runtime.py: tune_malloc`): 23 -> 43 ms."""
    batch: list[str] = []
    length = 0
    for piece in pieces:
        batch.append(piece)
        length += len(piece)
        if length >= size:
            yield "".join(batch).encode()
            batch, length = [], 0
    if batch:
        yield "".join(batch).encode()


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
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


class RegistryWithoutKpis:
    """The registry's collectors but `KpiCollector`, whose families /metrics gets from `KpiExposition`
    (and without a target_info metric, which this worker does not set)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Iterator[Metric]:
        for collector in collectors(self.registry):
            if not isinstance(collector, KpiCollector):
                yield from collector.collect()

"""Consumer lag (`salesfloor_consumer_lag`) and the health document of `/api/health`."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from faust.types import TP
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from agents.export.source import Worker
from streams.kafka.internals import read_offset
from streams.kafka.read_to_end import list_offsets

BROKER_TIMEOUT_S = 6.0  # health turns not-ready when the broker has not answered this long
CAUGHT_UP_GRACE_S = 5.0  # a busy floor always has events in flight: ready if caught up this recently


def consumer_lag(app: Any, input_lag: Mapping[Any, int], ends: Mapping[TP, int] | None = None) -> dict[TP, int]:
    """Messages behind the end of each partition this worker reads: the input topics (read by the
    ingest consumer, agents/ingest.py) and the internal topics (changelogs are read by recovery); `ends`
    holds end offsets of internal partitions asked for since the last rebalance (`EndOffsets`)."""
    lag: dict[TP, int] = {TP(tp.topic, tp.partition): v for tp, v in input_lag.items()}
    for tp in internal_partitions(app):
        highwater = _highwater(app, tp)
        if highwater is None and ends:
            highwater = ends.get(tp)
        if highwater is None:
            lag[tp] = -1
            continue
        position = read_offset(app.consumer, tp)
        lag[tp] = max(0, highwater - (-1 if position is None else position) - 1)
    return lag


def internal_partitions(app: Any) -> list[TP]:
    return [tp for tp in app.assignor.assigned_actives() if not tp.topic.endswith("-changelog")]


class EndOffsets:
    """The end offsets of assigned internal partitions Faust's consumer has not fetched from yet.

    It learns a partition's end from its first fetch response, and with nothing new to read the broker
    holds that fetch for the 1,500 ms Faust hard-codes: a restarted worker was not ready until then, about
    2 s after its recovery. `learn` (a timer) asks the broker over a connection of its own instead, once the
    tables' recovery (and the partials' rebuild, its callback) is complete: before that, Faust's read offsets
    already stand at the committed ones, and a worker with its state still to rebuild looked caught up. What
    it learnt is forgotten at every rebalance, so an end from an earlier assignment never counts."""

    def __init__(self, app: Any, consumer_kwargs: dict[str, Any]) -> None:
        self.app = app
        self.consumer_kwargs = consumer_kwargs
        self.known: dict[TP, int] = {}

    def forget(self) -> None:
        self.known = {}

    def _settled(self) -> bool:
        app = self.app
        return not app.rebalancing and not app.in_recovery and app.tables.recovery.completed.is_set()

    async def learn(self) -> None:
        if not self._settled():
            return
        known = self.known
        unknown = [tp for tp in internal_partitions(self.app) if tp not in known and _highwater(self.app, tp) is None]
        if unknown:
            ends = await list_offsets(self.consumer_kwargs, unknown, "end")
            if self.known is known and self._settled():  # no rebalance meanwhile
                known.update(ends)


def _highwater(app: Any, tp: TP) -> int | None:
    try:
        highwater: int | None = app.consumer.highwater(tp)
    except Exception:  # noqa: BLE001 - the consumer has not fetched this partition yet
        return None
    return highwater


class LagCollector(Collector):
    """`salesfloor_consumer_lag{topic,partition}` at scrape time, for the partitions this worker owns."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "salesfloor_consumer_lag", "Messages behind the end of the partition.", labels=["topic", "partition"]
        )
        for tp, lag in sorted(self.worker.lag().items()):
            if lag >= 0:
                family.add_metric([tp.topic, str(tp.partition)], lag)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


@dataclass
class Health:
    """Ready when the broker answers, partitions are assigned and every assigned input partition was
    read to its end within the last few seconds."""

    worker: Worker
    caught_up_at: float = 0.0  # monotonic time when every assigned partition was last read to its end

    def document(self) -> dict[str, Any]:
        worker = self.worker
        lag = worker.lag()
        now = time.monotonic()
        caught_up = bool(lag) and all(v == 0 for v in lag.values())
        if caught_up:
            self.caught_up_at = now
        broker_ok = now - worker.broker_seen_at <= BROKER_TIMEOUT_S
        recently = bool(lag) and now - self.caught_up_at <= CAUGHT_UP_GRACE_S
        entities, buckets = worker.state_sizes()
        return {
            "ready": broker_ok and recently,
            "broker_reachable": broker_ok,
            "assigned": [f"{tp.topic}[{tp.partition}]" for tp in sorted(lag)],
            "caught_up": caught_up,
            "lag": {f"{tp.topic}[{tp.partition}]": v for tp, v in sorted(lag.items())},
            "entities": entities,
            "aggregate_buckets": buckets,
        }

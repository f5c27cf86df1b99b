"""The engine without Kafka (issue 17, item 2; numbers, not a test): the throughput benchmark's floor
(10 teams × 100 reps, `benchmarks/load.py: floor_config`) driven in-process through the worker's own
stages, with the same JSON between them as on the topics, and the CPU of each stage per event.

    .venv/bin/python benchmarks/engine.py                      # 200,000 events
    .venv/bin/python benchmarks/engine.py --events 50000 --profile
    .venv/bin/python benchmarks/engine.py --events 100000 --repeat 5   # each stage's best of 5 runs

Stages, as the worker runs them: `ingest` (decode and validate, compact, route, encode the entity batches;
`agents/ingest.py`), `entities` (decode a batch, `EntityStage.apply`), `ship` (`EntityStage.outgoing` and
the snapshots' encoding, every `--ship-every` events: the worker ships every 0.03 s while it keeps up, every
1 s while it catches up) and `aggregates`
(decode, `AggregateStage.apply`, which keeps the merged view). `--profile` adds cProfile's top functions.
What it leaves out is Kafka's and Faust's share (fetch, produce, the agents' machinery, changelog
writes), which the worker's profile (`run.py --only profile`) shows.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402 - after the path fix

from agents.aggregates.stage import AggregateStage  # noqa: E402
from agents.aggregates.view import AggregateView  # noqa: E402
from agents.entities.decode import decode_compact  # noqa: E402
from agents.entities.stage import EntityStage  # noqa: E402
from agents.entities.state import ages_out, routes  # noqa: E402
from agents.ingest import ROUTE_CHUNK  # noqa: E402
from agents.kpis import kpis_for  # noqa: E402
from agents.kpis.windows import now_us  # noqa: E402
from agents.runtime import tune_garbage_collector  # noqa: E402
from benchmarks.common import say, write_result  # noqa: E402
from benchmarks.load import floor_config  # noqa: E402
from streams.errors import InvalidEvent  # noqa: E402
from streams.kafka.buffered import MemoryTable  # noqa: E402
from streams.settings import load_settings  # noqa: E402
from streams.sim.simulator import generate  # noqa: E402

STAGES = ("ingest", "entities", "ship", "aggregates")


class Engine:
    """The worker's stages on in-memory tables, with a CPU clock per stage."""

    def __init__(self, partitions: int) -> None:
        s = self.settings = load_settings()
        self.partitions = partitions
        self.kpis = kpis_for(s.zone, int(s.lead_sla_seconds * 1_000_000), s.stages)
        self.entities = EntityStage(
            MemoryTable(), self.kpis, on_duplicate=lambda _t: None, watch=lambda *_: None, foreign=unexpected
        )
        self.kpis.clocks = self.entities.clocks_now
        self.entities.advance(now_us(), s.retention_us)  # as the worker does: no minute buckets past 2 h
        self.view = AggregateView()
        self.aggregates = AggregateStage(MemoryTable(), self.view, foreign=unexpected)
        self.offsets = dict.fromkeys(range(partitions), 0)
        self.cpu = dict.fromkeys(STAGES, 0.0)

    def timed(self, stage: str, work: Callable[..., Any], *args: Any) -> Any:
        started = time.process_time()
        try:
            return work(*args)
        finally:
            self.cpu[stage] += time.process_time() - started

    def ingest(self, values: list[bytes]) -> list[tuple[int, bytes]]:
        s, now = self.settings, now_us()
        oldest, stages, routed = now - s.retention_us, frozenset(s.stages), {}
        for value in values:
            try:
                event = decode_compact(value, currency=s.currency, stages=stages, latest_us=now)
            except InvalidEvent:
                continue
            if event["a"] < oldest and ages_out(event["y"]):
                continue
            for partition, key, primary in routes(event, self.partitions):
                routed.setdefault(partition, []).append((key, event, "sales.x", primary))
        return [
            (partition, orjson.dumps({"b": items[start : start + ROUTE_CHUNK]}))
            for partition, items in routed.items()
            for start in range(0, len(items), ROUTE_CHUNK)
        ]

    def apply_entities(self, messages: list[tuple[int, bytes]]) -> None:
        for partition, message in messages:
            self.entities.apply(partition, self.offsets[partition], orjson.loads(message))
            self.offsets[partition] += 1

    def ship(self) -> list[tuple[int, bytes]]:
        outgoing = self.entities.outgoing(set(range(self.partitions)), self.partitions)
        return [(target, orjson.dumps({"s": snapshots})) for target, snapshots in outgoing.items()]

    def apply_aggregates(self, messages: list[tuple[int, bytes]]) -> None:
        for target, message in messages:
            self.aggregates.apply(target, 0, orjson.loads(message))

    def run(self, values: list[bytes], poll: int, ship_every: int) -> None:
        shipped = 0
        for start in range(0, len(values), poll):
            routed = self.timed("ingest", self.ingest, values[start : start + poll])
            self.timed("entities", self.apply_entities, routed)
            if start + poll - shipped >= ship_every:
                shipped = start + poll
                self.timed("aggregates", self.apply_aggregates, self.timed("ship", self.ship))
        self.timed("aggregates", self.apply_aggregates, self.timed("ship", self.ship))


def unexpected(partition: int, offset: int, value: dict[str, Any]) -> None:
    raise AssertionError(f"unexpected message at {partition}@{offset}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--poll", type=int, default=2000, help="events per ingest poll (the worker's MAX_RECORDS)")
    parser.add_argument("--ship-every", type=int, default=500, help="events between ships")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top 30 functions (slower)")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs over the same events, each stage's best kept (a noisy machine)"
    )
    args = parser.parse_args()
    say(f"engine: generating {args.events:,} events of a 10 × 100-rep floor")
    values = [orjson.dumps(e) for e in generate(floor_config(args.events))]
    tune_garbage_collector()  # as the worker does
    profiler = cProfile.Profile() if args.profile else None
    best: dict[str, float] = {}
    walls = []
    for _ in range(max(1, args.repeat)):
        engine = Engine(load_settings().partitions)
        started = time.monotonic()
        if profiler is not None:
            profiler.enable()
        engine.run(values, args.poll, args.ship_every)
        if profiler is not None:
            profiler.disable()
        walls.append(time.monotonic() - started)
        for stage, cpu in engine.cpu.items():
            best[stage] = min(best.get(stage, cpu), cpu)
        del engine
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    wall = min(walls)
    n = len(values)
    per_event = {stage: round(cpu / n * 1e6, 2) for stage, cpu in best.items()}
    total = sum(best.values()) / n * 1e6
    summary = (
        f"engine: {n:,} events{f', best of {len(walls)}' if len(walls) > 1 else ''}, "
        f"{total:.1f} CPU µs/event in the stages ("
        + ", ".join(f"{stage} {us:.1f}" for stage, us in per_event.items())
        + f"); {n / wall:,.0f} ev/s in-process"
        + (" (under cProfile)" if profiler else "")
    )
    results = {"events": n, "cpu_us_per_event": per_event, "total_us_per_event": round(total, 2), "wall_s": wall}
    write_result("engine", summary, vars(args), results)
    say(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

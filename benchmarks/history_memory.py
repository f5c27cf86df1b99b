#!/usr/bin/env python
"""Memory of a year of history for a 1,000-rep floor (issue 13): what the aggregates keep once the
events' retention has passed — 62 days of day buckets (with their by-time won amounts) and 13 month
rollups per team/rep key, in the aggregate table and the merged view.

The buckets are real: a simulated floor of 10 teams x 100 reps is run through the engine's stages in
process for one business day; each key's day buckets are then repeated for the kept days and months
(their fields are what a real day holds). No broker needed.

    .venv/bin/python benchmarks/history_memory.py [--teams 10] [--reps 100] [--days 62] [--months 13]
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from agents.aggregates.stage import ROLLUP
from agents.aggregates.view import AggregateView
from agents.entities.stage import EntityStage
from agents.entities.state import compact, entity_keys
from agents.kpis import kpis_for
from agents.routing import SEP, entity_partition
from benchmarks.common import RESULTS, machine
from streams.kafka.buffered import MemoryTable
from streams.records import decode_event
from streams.sim.simulator import FloorConfig, generate

PARTITIONS = 4


def one_day(teams: int, reps: int) -> dict[tuple[str, str, str], dict[int, list[Any]]]:
    """(team, rep, bucket) -> {source partition: [version, fields]} after a simulated day."""
    now = datetime(2026, 11, 30, 20, tzinfo=timezone.utc)
    config = FloorConfig(seed=1, teams=teams, reps_per_team=reps, start=now - timedelta(hours=14), end=now, tz="UTC")
    stage = EntityStage(MemoryTable(), kpis_for(ZoneInfo("UTC"), 300_000_000), on_duplicate=lambda t: None,
                        watch=lambda p, k, e, b: None, foreign=lambda p, o, v: None)  # fmt: skip
    routed: dict[int, list[Any]] = {}
    events = 0
    for raw in generate(config):
        event = compact(decode_event(orjson.dumps(raw)))
        events += 1
        for n, key in enumerate(entity_keys(event)):
            routed.setdefault(entity_partition(key, PARTITIONS), []).append((key, event, "t", n == 0))
    for partition, items in routed.items():
        stage.apply(partition, 1, orjson.loads(orjson.dumps({"b": items})))
    records: dict[tuple[str, str, str], dict[int, list[Any]]] = {}
    for _, snapshots in stage.outgoing(set(range(PARTITIONS)), PARTITIONS).items():
        for source, version, team, rep, bucket, fields in snapshots:
            if bucket[0] in "dw":
                records.setdefault((team, rep, bucket), {})[source] = [version, fields]
    print(f"simulated {events:,} events: {len(records):,} day buckets of {len({k[:2] for k in records}):,} keys")
    return records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--reps", type=int, default=100, help="reps per team")
    parser.add_argument("--days", type=int, default=62)
    parser.add_argument("--months", type=int, default=13)
    args = parser.parse_args()
    day = one_day(args.teams, args.reps)
    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    table, view = MemoryTable(), AggregateView()
    first = date(2026, 11, 30)
    for n in range(args.days):  # every kept day holds what the simulated day holds
        stamp = (first - timedelta(days=n)).isoformat()
        for (team, rep, bucket), record in day.items():
            name = bucket[0] + stamp
            copy = {str(source): [version, dict(fields)] for source, (version, fields) in record.items()}
            table.put(SEP.join((team, rep, name)), 0, copy)
            view.put(0, team, rep, name, copy)
    for n in range(args.months):  # each month rollup: a day's fields x 30
        month = f"{2026 - (n + 1) // 12:04d}-{(10 - n) % 12 + 1:02d}"
        for (team, rep, bucket), record in day.items():
            if bucket[0] != "d":
                continue
            fields: dict[str, int] = {}
            for _, values in record.values():
                for field, value in values.items():
                    fields[field] = fields.get(field, 0) + 30 * value
            rollup = {ROLLUP: [0, fields, [f"d{month}-{d:02d}" for d in range(1, 31)]]}
            table.put(SEP.join((team, rep, "M" + month)), 0, rollup)
            view.put(0, team, rep, "M" + month, rollup)
    gc.collect()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    keys = len(view.buckets)
    buckets = sum(len(b) for b in view.buckets.values())
    result = {
        "name": "history_memory",
        "machine": machine(),
        "params": vars(args),
        "keys": keys,
        "buckets": buckets,
        "bytes": current,
        "peak_bytes": peak,
        "bytes_per_key": current / keys,
        "seconds": time.perf_counter() - started,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "history_memory.json").write_text(json.dumps(result, indent=2))
    print(
        f"history_memory: {args.teams * args.reps:,} reps, {args.days} days + {args.months} months: {keys:,} team/rep "
        f"keys, {buckets:,} buckets, {current / 2**20:,.0f} MiB in the aggregate table and view "
        f"({current / keys / 1024:,.0f} KiB a key; target well under 1 GiB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""Run the performance benchmarks: each prints one summary line and writes benchmarks/results/<name>.json.

    .venv/bin/python benchmarks/run.py [--only NAME[,NAME...]] [--events N] [--bootstrap HOST:PORT]

Without --bootstrap a broker of our own is started (deploy/kafka/kafka.sh) and stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import common
from benchmarks.common import RESULTS, Broker, code_version, machine, say
from benchmarks.load import CREATED_PREFIXES, delete_topics
from benchmarks.suite import BENCHMARKS, Context

ORDER = ("ceilings", "peers", "throughput", "throughput2", "recovery", "profile", "latency", "memory", "scrape")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", help=f"comma-separated benchmarks of {', '.join(ORDER)} (default: all)")
    parser.add_argument(
        "--events",
        type=int,
        default=1_000_000,
        help="events pre-loaded for ceilings/peers/throughput/throughput2/profile (default 1,000,000)",
    )
    parser.add_argument("--leads", type=int, default=200_000, help="waiting leads for memory (default 200,000)")
    parser.add_argument(
        "--lead-hours",
        type=float,
        default=0.25,
        help="memory: the leads' creation times spread over the last H hours (default 0.25; "
        "a wider spread adds a per-minute bucket per lead and loads far slower)",
    )
    parser.add_argument(
        "--latency-seconds", type=float, default=60.0, help="measuring time per latency variant (default 60)"
    )
    parser.add_argument(
        "--scrape-hours",
        type=float,
        default=8.0,
        help="hours of a 1,000-rep floor loaded for scrape (default 8, ~50k events)",
    )
    parser.add_argument("--bootstrap", help="an existing broker, host:port (default: start our own)")
    parser.add_argument(
        "--keep-topics",
        action="store_true",
        help="keep this run's topics on the broker (default: delete them at the end)",
    )
    args = parser.parse_args()
    names = ORDER if not args.only else tuple(n.strip() for n in args.only.split(",") if n.strip())
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(ORDER)}")
    names = tuple(n for n in ORDER if n in names)
    info = machine()
    say(f"code: {info['commit']}" + (f" + uncommitted {', '.join(info['uncommitted'])}" if info["uncommitted"] else ""))
    say(
        f"machine: {info['nproc']} CPUs ({info['cpu_model']}), {info['mem_gib']} GiB, Python {info['python']}, "
        f"faust-streaming {info['faust_streaming']}, aiokafka {info['aiokafka']}"
    )
    summaries: list[str] = []
    failed = 0
    started = time.monotonic()
    with Broker(args.bootstrap) as broker:
        ctx = Context(
            broker=broker,
            events=args.events,
            leads=args.leads,
            lead_hours=args.lead_hours,
            latency_seconds=args.latency_seconds,
            scrape_hours=args.scrape_hours,
        )
        for name in names:
            version = code_version()
            common.STARTED_FROM.clear()
            common.STARTED_FROM.update(version)
            say(f"== {name} (code {version['commit']}{' + uncommitted changes' if version['uncommitted'] else ''})")
            common.LOAD[:] = [common.ForeignLoad(broker.pid())]
            t = time.monotonic()
            try:
                line = BENCHMARKS[name](ctx)
            except Exception as exc:  # noqa: BLE001 - report and go on with the others
                failed += 1
                traceback.print_exc()
                line = f"{name}: FAILED: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            other = common.LOAD[0].result()
            if other["foreign_cpu_s"] > 0.05 * other["wall_s"]:
                line += (
                    f"  [WARNING: other processes used {other['foreign_cpu_s']:.0f} CPU-s meanwhile: "
                    + ", ".join(other["foreign_processes"])
                    + "]"
                )
            say(f"{line}  [{time.monotonic() - t:.0f}s]")
            summaries.append(line)
        if args.bootstrap and not args.keep_topics:
            deleted = asyncio.run(delete_topics(broker.bootstrap, CREATED_PREFIXES))
            say(f"deleted this run's {deleted} topics")
    print(f"\n== summary ({time.monotonic() - started:.0f}s; results in {RESULTS})")
    for line in summaries:
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""A steady simulated floor on the wall clock, produced until interrupted (SIGINT/SIGTERM).

Like `salesfloor simulate --realtime`, but steady at RATE from the start: without the backlog of past deals
that the simulator sends first (scaled by the rate: ~250,000 messages at 2,000 ev/s), and calibrated on its
first two minutes (`--rate` is the long-run average, with follow-ups of earlier leads: a cold start gives ~half).

    python benchmarks/stream.py BOOTSTRAP PREFIX RATE TEAMS REPS_PER_TEAM
"""

from __future__ import annotations

import asyncio
import signal
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from streams.settings import load_settings
from streams.sim.produce import ProduceStats, produce
from streams.sim.realtime import generate_realtime, realtime_config
from streams.sim.simulator import FloorConfig, generate


def steady_config(rate: float, teams: int, reps: int, seed: int = 3) -> FloorConfig:
    """A wall-clock floor of `teams` × `reps` producing `rate` events/s on average, no backlog."""
    now = datetime.now(timezone.utc)
    cfg = realtime_config(
        FloorConfig(start=now, end=now, teams=teams, reps_per_team=reps, backlog_days=0.0, seed=seed), rate
    )
    probe = replace(cfg, start=now, end=now + timedelta(seconds=120))
    measured = sum(1 for _ in generate(probe)) / 120
    return replace(cfg, intensity=cfg.intensity * rate / measured)


async def main(bootstrap: str, prefix: str, rate: float, teams: int, reps: int) -> None:
    cfg = steady_config(rate, teams, reps)
    settings = load_settings(kafka_bootstrap=bootstrap, topic_prefix=prefix)

    async def values():  # type: ignore[no-untyped-def]
        async for event in generate_realtime(cfg):
            yield orjson.dumps(event)

    def progress(stats: ProduceStats) -> None:
        print(f"stream: {stats.summary()}", file=sys.stderr, flush=True)

    task = asyncio.ensure_future(produce(values(), settings=settings, keys="spec", progress=progress))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        pass


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))

"""The soak benchmark (issue 18, item 6; numbers, not a test): a 1,000-rep floor (10 teams × 100 reps) on
the wall clock at 200 events/s for hours, one worker restarted every 30 minutes (SIGTERM and SIGKILL in
turn), and every minute: the worker's RSS, its lag, and whether its KPIs equal an independent count.

The count is kept here from every event produced (they are valid: the steady floor of benchmarks/stream.py),
per team and for the floor, of `leads_created`, `calls_outbound` and `emails_sent` in the `today` and
`month` windows of the business zone (UTC). To compare at a consistent cut, production pauses at each
sample until the worker is caught up (at most `--catch-up-seconds`), then `/metrics` is read and the
stream resumes; the pauses are recorded. Results go to benchmarks/results/soak.json (rewritten at every
sample, `complete` false until the end, so a run cut short keeps its numbers) and soak.png (RSS
and lag over time, restarts marked; matplotlib, if installed: `.venv/bin/pip install -e '.[bench]'`).

    .venv/bin/python benchmarks/soak.py                      # 4 h, own broker
    .venv/bin/python benchmarks/soak.py --hours 0.25 --restart-minutes 5
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson  # noqa: E402 - after the path fix
from aiokafka import AIOKafkaProducer  # noqa: E402

from benchmarks.common import (  # noqa: E402
    RESULTS,
    Broker,
    bench_env,
    get,
    health,
    memory_kib,
    new_worker,
    say,
    write_result,
)
from benchmarks.stream import steady_config  # noqa: E402
from streams.sim.realtime import generate_realtime  # noqa: E402
from streams.topics import TOPIC_OF_TYPE, spec_key, topic_name  # noqa: E402
from tests.kpi_compare import parse_metrics  # noqa: E402

COUNTED = {"lead.created": "leads_created", "email.sent": "emails_sent"}  # + outbound calls


class Truth:
    """What the KPIs must be: counts of the produced events per (kpi, team, window period)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str, str]] = Counter()

    def add(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        kpi = COUNTED.get(kind)
        if kind == "call.completed" and event.get("direction") == "outbound":
            kpi = "calls_outbound"
        if kpi is None:
            return
        day = str(event["occurred_at"])[:10]  # UTC, the worker's default zone
        for team in (event["team_id"], "_all"):
            self.counts[(kpi, team, day)] += 1
            self.counts[(kpi, team, day[:7])] += 1

    def differences(self, metrics: dict[Any, float], today: str) -> list[str]:
        have: dict[tuple[str, str, str], float] = {}
        for (name, labels), value in metrics.items():
            label = dict(labels)
            kpi = name.removeprefix("salesfloor_")
            if kpi in ("leads_created", "calls_outbound", "emails_sent") and label.get("rep") == "_all":
                period = (
                    today if label.get("window") == "today" else today[:7] if label.get("window") == "month" else None
                )
                if period is not None:
                    have[(kpi, label["team"], period)] = value
        out = []
        for key, want in self.counts.items():
            if key[2] in (today, today[:7]) and have.get(key, 0.0) != want:
                out.append(f"{key}: worker {have.get(key)} != {want}")
        return out


class Stream:
    """The floor, produced at its own pace until stopped; `paused` holds it at a sample."""

    def __init__(self, bootstrap: str, prefix: str, rate: float, teams: int, reps: int) -> None:
        self.bootstrap, self.prefix = bootstrap, prefix
        self.config = steady_config(rate, teams, reps)
        self.truth = Truth()
        self.sent = 0
        self.running = asyncio.Event()
        self.running.set()
        self.producer: AIOKafkaProducer | None = None
        self.pending: list[asyncio.Future[Any]] = []

    async def run(self) -> None:
        producer = self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all", linger_ms=20)
        await producer.start()
        try:
            async for event in generate_realtime(self.config):
                await self.running.wait()
                topic = topic_name(self.prefix, TOPIC_OF_TYPE[event["type"]])
                key = spec_key(event)
                # queued, not awaited one by one (that would cap the rate at one linger per event)
                self.pending.append(await producer.send(topic, orjson.dumps(event), key=key.encode() if key else None))
                self.truth.add(event)
                self.sent += 1
        finally:
            await producer.stop()

    async def delivered(self) -> None:
        """Every event sent so far is on the broker (raises what failed)."""
        if self.producer is not None:
            await self.producer.flush()
        pending, self.pending = self.pending, []
        for future in pending:
            await future


def rss_mib(pid: int) -> float:
    return memory_kib(pid).get("VmRSS", 0) / 1024


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    samples: list[dict[str, Any]] = []
    restarts: list[dict[str, Any]] = []
    with Broker(args.bootstrap) as broker:
        prefix = f"bench-soak-{uuid4().hex[:8]}."
        worker = new_worker("soak", bench_env(broker.bootstrap, prefix))
        worker.start()
        worker.wait_ready(timeout=180)
        stream = Stream(broker.bootstrap, prefix, args.rate, args.teams, args.reps)
        producing = asyncio.ensure_future(stream.run())
        began = time.monotonic()
        next_restart = began + args.restart_minutes * 60
        kill = False
        try:
            while time.monotonic() - began < args.hours * 3600:
                await asyncio.sleep(max(0.0, began + (len(samples) + 1) * args.every - time.monotonic()))
                if producing.done():
                    producing.result()  # raises what stopped the stream
                if time.monotonic() >= next_restart:
                    restarts.append(await asyncio.to_thread(restart, worker, kill, began))
                    kill, next_restart = not kill, next_restart + args.restart_minutes * 60
                samples.append(await sample(worker, stream, began, args.catch_up_seconds))
                s = samples[-1]
                say(f"soak {s['minute']:.0f} min: {stream.sent} events, RSS {s['rss_mib']:.0f} MiB, lag {s['lag']}, "
                    f"equal {s['equal']} (pause {s['pause_s']:.1f} s)")  # fmt: skip
                # written at every sample: a run cut short (a machine stopped mid-way) still leaves its numbers
                write_result("soak", "soak: in progress", vars(args), report(args, prefix, stream, samples, restarts))
        finally:
            producing.cancel()
            worker.stop()
    return {**report(args, prefix, stream, samples, restarts), "complete": True}


def report(
    args: argparse.Namespace, prefix: str, stream: Stream, samples: list[dict[str, Any]], restarts: list[dict[str, Any]]
) -> dict[str, Any]:
    equal = [s["equal"] for s in samples]
    rss = [s["rss_mib"] for s in samples]
    return {
        "complete": False,
        "prefix": prefix,
        "hours": args.hours,
        "minutes_run": samples[-1]["minute"] if samples else 0.0,
        "rate": args.rate,
        "floor": f"{args.teams} teams x {args.reps} reps",
        "events": stream.sent,
        "samples": samples,
        "restarts": restarts,
        "equal_samples": sum(equal),
        "unequal_samples": len(equal) - sum(equal),
        "rss_mib": {"first": rss[0] if rss else None, "max": max(rss, default=None), "last": rss[-1] if rss else None},
    }


async def sample(worker: Any, stream: Stream, began: float, catch_up_s: float) -> dict[str, Any]:
    assert worker.process is not None
    lag_before = sum(v for v in health(worker).get("lag", {}).values() if isinstance(v, int) and v > 0)
    stream.running.clear()
    paused = time.monotonic()
    await asyncio.sleep(0.2)  # the event being generated is sent
    await stream.delivered()
    differences: list[str] = ["not caught up"]
    while time.monotonic() - paused < catch_up_s:
        if health(worker).get("ready"):
            _, body = await asyncio.to_thread(get, worker.port, "/metrics")
            today = datetime.now(timezone.utc).date().isoformat()
            differences = stream.truth.differences(parse_metrics(body.decode()), today)
            if not differences:
                break
        await asyncio.sleep(1.0)
    pause_s = time.monotonic() - paused
    stream.running.set()
    return {
        "minute": (time.monotonic() - began) / 60,
        "events": stream.sent,
        "rss_mib": rss_mib(worker.process.pid),
        "lag": lag_before,
        "equal": not differences,
        "differences": differences[:5],
        "pause_s": pause_s,
    }


def restart(worker: Any, kill: bool, began: float) -> dict[str, Any]:
    at = (time.monotonic() - began) / 60
    worker.stop(signal.SIGKILL if kill else signal.SIGTERM)
    t0 = time.monotonic()
    worker.start()
    worker.wait_ready(timeout=600)
    return {"minute": at, "signal": "SIGKILL" if kill else "SIGTERM", "ready_after_s": time.monotonic() - t0}


def plot(result: dict[str, Any], path: Path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "no plot: matplotlib is not installed (.venv/bin/pip install -e '.[bench]')"
    minutes = [s["minute"] for s in result["samples"]]
    fig, rss_axis = plt.subplots(figsize=(10, 4))
    rss_axis.plot(minutes, [s["rss_mib"] for s in result["samples"]], label="worker RSS (MiB)")
    rss_axis.set_xlabel("minutes")
    rss_axis.set_ylabel("RSS (MiB)")
    lag_axis = rss_axis.twinx()
    lag_axis.plot(minutes, [s["lag"] for s in result["samples"]], color="tab:orange", alpha=0.5, label="lag")
    lag_axis.set_ylabel("lag (messages)")
    for r in result["restarts"]:
        rss_axis.axvline(r["minute"], color="grey", linestyle=":" if r["signal"] == "SIGTERM" else "--")
    rss_axis.set_title(f"soak: {result['floor']}, {result['rate']:.0f} ev/s, restarts dotted (TERM) / dashed (KILL)")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return f"plot in {path}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=4.0)
    parser.add_argument("--rate", type=float, default=200.0, help="events/s (default 200)")
    parser.add_argument("--teams", type=int, default=10)
    parser.add_argument("--reps", type=int, default=100, help="reps per team (default 100)")
    parser.add_argument("--restart-minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between samples (default 60)")
    parser.add_argument("--catch-up-seconds", type=float, default=60.0)
    parser.add_argument("--bootstrap", help="a running broker (default: one of our own)")
    args = parser.parse_args()
    result = asyncio.run(soak(args))
    note = plot(result, RESULTS / "soak.png")
    rss = result["rss_mib"]
    summary = (
        f"soak: {result['events']} events in {args.hours:g} h at {args.rate:g} ev/s, "
        f"{len(result['restarts'])} restarts; "
        f"KPIs equal at {result['equal_samples']} of {len(result['samples'])} samples; "
        f"RSS first {rss['first']:.0f} / max {rss['max']:.0f} / last {rss['last']:.0f} MiB; {note}"
    )
    params = {k: v for k, v in vars(args).items()}
    write_result("soak", summary, params, result)
    say(summary)
    return 0 if result["unequal_samples"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

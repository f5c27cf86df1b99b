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

A soak longer than the machine stays up can be resumed: with its own broker, the broker's log, the
worker's data and the run so far (state.json, saved at every sample) live in `--state` (default
var/soak). `--resume` starts the broker and the worker again from there (recorded as a restart of
everything: broker and worker were stopped with the machine), counts again every event the input
topics hold (what was produced after the last sample, up to the stop, is there too), and runs on until
the run clock, which does not count the time the machine was away, reaches `--hours`. The floor goes
on with a new seed (new event ids, the same teams and reps), so nothing produced after the stop is a
duplicate of what came before it.

    .venv/bin/python benchmarks/soak.py                      # 4 h, own broker
    .venv/bin/python benchmarks/soak.py --resume             # on from var/soak after it stopped
    .venv/bin/python benchmarks/soak.py --hours 0.25 --restart-minutes 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
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
    ROOT,
    Broker,
    bench_env,
    get,
    health,
    memory_kib,
    say,
    write_result,
)
from benchmarks.stream import steady_config  # noqa: E402
from streams.kafka.read_to_end import read_to_end  # noqa: E402
from streams.sim.realtime import generate_realtime  # noqa: E402
from streams.topics import TOPIC_OF_TYPE, spec_key, topic_name  # noqa: E402
from tests.integration.workers import Worker  # noqa: E402
from tests.kpi_compare import parse_metrics  # noqa: E402

SEED = 3  # the first segment's; each resumed segment takes the next
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

    def __init__(self, bootstrap: str, prefix: str, rate: float, teams: int, reps: int, seed: int, truth: Truth,
                 sent: int) -> None:  # fmt: skip
        self.bootstrap, self.prefix = bootstrap, prefix
        self.config = steady_config(rate, teams, reps, seed)
        self.truth = truth
        self.sent = sent
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


async def recount(bootstrap: str, prefix: str) -> tuple[Truth, int]:
    """The count of every event on the input topics, read back (a resumed run: what the machine's stop
    left there, up to the last event the broker acknowledged), and how many there are."""
    truth, seen = Truth(), set()
    for short in sorted(set(TOPIC_OF_TYPE.values())):
        async for _, records in read_to_end({"bootstrap_servers": bootstrap}, topic_name(prefix, short)):
            for record in records:
                event = orjson.loads(record.value or b"")
                if event["event_id"] not in seen:  # a producer's retry may have written one twice
                    seen.add(event["event_id"])
                    truth.add(event)
    return truth, len(seen)


class Run:
    """What a soak has done so far, saved in `state` at every sample so that `--resume` can go on."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.path = Path(args.state) / "state.json"
        saved: dict[str, Any] = json.loads(self.path.read_text()) if args.resume else {}
        self.resumed = bool(saved)
        self.prefix: str = saved.get("prefix") or f"bench-soak-{uuid4().hex[:8]}."
        self.ports: list[int] | None = saved.get("ports")
        self.segment: int = saved.get("segments", 0) + 1 if saved else 1
        self.sent: int = saved.get("events", 0)
        self.samples: list[dict[str, Any]] = saved.get("samples", [])
        self.restarts: list[dict[str, Any]] = saved.get("restarts", [])
        self.minutes: float = saved.get("minutes_run", 0.0)  # on the run clock: the machine's time away not counted
        self.next_restart: float = saved.get("next_restart_minute", args.restart_minutes)
        self.kill: bool = saved.get("kill_next", False)
        self.stopped_at: float | None = saved.get("saved_at")

    def save(self, stream: Stream) -> None:
        state = {
            "prefix": self.prefix, "ports": self.ports, "segments": self.segment,
            "events": stream.sent, "samples": self.samples, "restarts": self.restarts,
            "minutes_run": self.minutes, "next_restart_minute": self.next_restart, "kill_next": self.kill,
            "saved_at": time.time(),
        }  # fmt: skip
        self.path.with_suffix(".tmp").write_text(json.dumps(state))
        self.path.with_suffix(".tmp").replace(self.path)


def state_dir(args: argparse.Namespace) -> Path:
    """The soak's own directory: kept for `--resume`, started afresh otherwise (a broker given by
    `--bootstrap` keeps its own log, so such a run can resume only on that broker)."""
    state = Path(args.state)
    if args.resume:
        if not (state / "state.json").exists():
            raise SystemExit(f"nothing to resume: {state / 'state.json'} does not exist")
    else:
        shutil.rmtree(state, ignore_errors=True)
        state.mkdir(parents=True)
    return state


async def soak(args: argparse.Namespace) -> dict[str, Any]:
    state = state_dir(args)
    run = Run(args)
    with Broker(args.bootstrap, None if args.bootstrap else state / "kafka", run.ports) as broker:
        run.ports = broker.ports
        worker = Worker(env=bench_env(broker.bootstrap, run.prefix), log_path=state / "worker.log")
        t0 = time.monotonic()
        worker.start()
        worker.wait_ready(timeout=600)
        truth = Truth()
        if run.resumed:  # broker and worker went down with the machine
            truth, run.sent = await recount(broker.bootstrap, run.prefix)
            away = (time.time() - run.stopped_at) / 60 if run.stopped_at else None
            run.restarts.append({"minute": run.minutes, "signal": "all stopped", "away_minutes": away,
                                 "ready_after_s": time.monotonic() - t0})  # fmt: skip
            say(f"soak resumed at {run.minutes:.0f} min after {away or 0:.0f} min away; ready after "
                f"{run.restarts[-1]['ready_after_s']:.0f} s")  # fmt: skip
        stream = Stream(broker.bootstrap, run.prefix, args.rate, args.teams, args.reps, SEED + run.segment - 1,
                        truth, run.sent)  # fmt: skip
        producing = asyncio.ensure_future(stream.run())
        began = time.monotonic() - run.minutes * 60  # the run clock goes on from where it stopped
        try:
            while time.monotonic() - began < args.hours * 3600:
                await asyncio.sleep(max(0.0, began + (len(run.samples) + 1) * args.every - time.monotonic()))
                if producing.done():
                    producing.result()  # raises what stopped the stream
                if (time.monotonic() - began) / 60 >= run.next_restart:
                    run.restarts.append(await asyncio.to_thread(restart, worker, run.kill, began))
                    run.kill, run.next_restart = not run.kill, run.next_restart + args.restart_minutes
                run.samples.append(await sample(worker, stream, began, args.catch_up_seconds))
                s = run.samples[-1]
                run.minutes = s["minute"]
                say(f"soak {s['minute']:.0f} min: {stream.sent} events, RSS {s['rss_mib']:.0f} MiB, lag {s['lag']}, "
                    f"equal {s['equal']} (pause {s['pause_s']:.1f} s)")  # fmt: skip
                # saved at every sample: a run cut short (a machine stopped mid-way) keeps its numbers and resumes
                run.save(stream)
                write_result("soak", "soak: in progress", vars(args), report(args, run, stream))
        finally:
            producing.cancel()
            worker.stop()
    return {**report(args, run, stream), "complete": True}


def report(args: argparse.Namespace, run: Run, stream: Stream) -> dict[str, Any]:
    samples, restarts = run.samples, run.restarts
    equal = [s["equal"] for s in samples]
    rss = [s["rss_mib"] for s in samples]
    return {
        "complete": False,
        "prefix": run.prefix,
        "segments": run.segment,
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
            try:
                _, body = await asyncio.to_thread(get, worker.port, "/metrics")
            except OSError as exc:  # a busy machine: 30 s without an answer is a sample's miss, not the soak's end
                differences = [f"/metrics did not answer: {exc!r}"]
                continue
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
    styles = {"SIGTERM": ("grey", ":"), "SIGKILL": ("grey", "--")}
    for r in result["restarts"]:
        color, style = styles.get(r["signal"], ("tab:red", "-"))  # all stopped (the machine, or the soak): resumed
        rss_axis.axvline(r["minute"], color=color, linestyle=style)
    rss_axis.set_title(
        f"soak: {result['floor']}, {result['rate']:.0f} ev/s; worker restarts dotted (TERM) / dashed (KILL), "
        "everything stopped and resumed solid red",
        fontsize=9,
    )
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
    parser.add_argument("--state", default=str(ROOT / "var" / "soak"), help="the soak's own directory (var/soak)")
    parser.add_argument("--resume", action="store_true", help="go on with the soak saved in --state")
    args = parser.parse_args()
    result = asyncio.run(soak(args))
    note = plot(result, RESULTS / "soak.png")
    rss = result["rss_mib"]
    summary = (
        f"soak: {result['events']} events in {args.hours:g} h at {args.rate:g} ev/s, "
        f"{len(result['restarts'])} restarts ({result['segments'] - 1} of them everything stopping and resuming); "
        f"KPIs equal at {result['equal_samples']} of {len(result['samples'])} samples; "
        f"RSS first {rss['first']:.0f} / max {rss['max']:.0f} / last {rss['last']:.0f} MiB; {note}"
    )
    params = {k: v for k, v in vars(args).items()}
    write_result("soak", summary, params, result)
    say(summary)
    return 0 if result["unequal_samples"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

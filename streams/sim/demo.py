"""`salesfloor demo` (what `make demo` runs): a local broker, a worker and a simulated floor in real time, with
the day and the previous month backfilled so the board shows realistic numbers from the first minute, until a
signal stops all three in order (simulator, worker, then the broker if the demo started it)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import signal
import sys
import time
import urllib.request
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock_time
from pathlib import Path
from typing import Final, TypeVar

import orjson

from streams.settings import Settings
from streams.sim.config import FloorConfig
from streams.sim.produce import ProduceStats, produce
from streams.sim.realtime import events_per_second, generate_realtime, realtime_config

BACKFILL_MODES: Final = ("month", "today", "none")
MAX_BACKFILL_EVENTS: Final = 600_000  # about two minutes at the ~5,000 events/s of a 2-core machine
WORKER_STOP_S: Final = 8.0
SIMULATOR_STOP_S: Final = 3.0
LIVE_PROGRESS_EVERY_S: Final = 60.0
STOP_SIGNALS: Final = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

log = logging.getLogger("salesfloor.demo")
T = TypeVar("T")


def configure_demo(parser: argparse.ArgumentParser) -> None:
    """Options of `salesfloor demo`."""
    parser.add_argument(
        "--backfill",
        choices=BACKFILL_MODES,
        default="month",
        help="events produced at start-up before real time: since the start of the previous month (default; "
        "the month-over-month growth has a month to compare with), since midnight, or none",
    )
    parser.add_argument(
        "--rate",
        type=float,
        help="average simulated events/s (default: a real floor's pace, about 0.08/s for 3x8 reps; a higher rate "
        "scales every activity, the targets and the backfill with it)",
    )
    parser.add_argument("--teams", type=int, default=3, help="number of teams (default 3)")
    parser.add_argument("--reps", type=int, default=8, help="reps per team (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")


@dataclass(frozen=True)
class DemoPlan:
    """The demo's floor, where its backfill starts, and what the worker needs to keep all of it."""

    floor: FloorConfig
    since: datetime | None
    rate: float  # average events/s
    expected_backfill: int  # events, roughly
    retention_days: float  # the age of the oldest backfilled event, in days, with a margin


def _local_midnight(day: date, settings: Settings) -> datetime:
    return datetime.combine(day, clock_time(0), tzinfo=settings.zone)


def plan_demo(args: argparse.Namespace, settings: Settings, now: datetime) -> DemoPlan:
    """The floor (around the clock, a real floor's pace unless `--rate`), and the backfill's start: with real
    sales cycles when backfilled (its pipeline is then a month old), compressed ones without (wins within
    hours). A backfill past `MAX_BACKFILL_EVENTS` is shortened to today, or to what fits."""
    floor = FloorConfig(
        start=now,
        end=now,
        seed=args.seed,
        teams=args.teams,
        reps_per_team=args.reps,
        tz=settings.timezone,
        currency=settings.currency,
        deal_stages=settings.stages,
        diurnal=False,
        calendars=False,  # reps around the clock: every hour is a business hour, as on the wall clock
    )
    if args.backfill == "none":
        floor = realtime_config(floor, None)
    base_rate = events_per_second(floor)
    if args.rate is not None:
        floor = replace(floor, intensity=args.rate / base_rate)
    rate = base_rate * floor.intensity
    today = now.astimezone(settings.zone).date()
    since: datetime | None = None
    if args.backfill == "month":
        previous = (today.replace(day=1) - timedelta(days=1)).replace(day=1)
        since = _local_midnight(previous, settings)
    elif args.backfill == "today":
        since = _local_midnight(today, settings)
    if since is not None and rate * (now - since).total_seconds() > MAX_BACKFILL_EVENTS:
        fits = now - timedelta(seconds=MAX_BACKFILL_EVENTS / rate)
        fits = fits.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)  # a start a rerun repeats
        shorter = max(fits, _local_midnight(today, settings))
        log.warning(
            "a backfill since %s would be ~%d events at %.3g events/s: backfilling since %s instead",
            since.isoformat(),
            rate * (now - since).total_seconds(),
            rate,
            shorter.isoformat(),
        )
        since = shorter
    span_s = (now - since).total_seconds() if since is not None else 0.0
    oldest_days = span_s / 86400 + floor.backlog_days + 1.0  # backlog deals are dated before the start
    return DemoPlan(floor, since, rate, int(rate * span_s), math.ceil(oldest_days))


def worker_env(plan: DemoPlan, settings: Settings, environ: dict[str, str]) -> dict[str, str]:
    """The worker's environment: the retention (and history) stretched to the backfill's oldest event, so its
    previous month is not dropped as late, unless SALESFLOOR_RETENTION_DAYS says otherwise."""
    env = dict(environ)
    if "SALESFLOOR_RETENTION_DAYS" not in env and plan.retention_days > settings.retention_days:
        env["SALESFLOOR_RETENTION_DAYS"] = str(plan.retention_days)
        if "SALESFLOOR_HISTORY_DAYS" not in env and plan.retention_days > settings.history_days:
            env["SALESFLOOR_HISTORY_DAYS"] = str(plan.retention_days)
        log.info("worker retention: %d days, to keep the backfilled previous month", plan.retention_days)
    return env


class _Progress:
    """Progress lines of the simulator: every few seconds during the backfill, once a minute in real time."""

    def __init__(self, plan: DemoPlan) -> None:
        self.plan = plan
        self.began = time.monotonic()
        self.backfilled: int | None = None if plan.since is not None else 0
        self.next_live = 0.0
        self.caught_up_event = asyncio.Event()

    def caught_up(self, count: int) -> None:
        self.backfilled = count
        self.caught_up_event.set()
        if self.plan.since is not None:
            log.info(
                "backfill generated: %d events since %s in %.1fs; now real time at ~%.2g events/s",
                count,
                self.plan.since.isoformat(),
                time.monotonic() - self.began,
                self.plan.rate,
            )

    def report(self, stats: ProduceStats) -> None:
        now = time.monotonic()
        current = stats.current_rate()
        if self.backfilled is None or stats.acked < self.backfilled:
            share = stats.acked / max(self.plan.expected_backfill, 1)
            log.info(
                "backfill: %d of ~%d events acked (%.0f %%), %d events/s now",
                stats.acked,
                self.plan.expected_backfill,
                min(share, 1.0) * 100,
                current,
            )
            if self.backfilled is not None:
                self.next_live = now + LIVE_PROGRESS_EVERY_S
        elif now >= self.next_live:
            self.next_live = now + LIVE_PROGRESS_EVERY_S
            log.info("simulator: %d events acked, %.2f events/s now", stats.acked, current)


async def simulate(plan: DemoPlan, settings: Settings, progress: _Progress) -> ProduceStats:
    """The demo's floor into the input topics, backfill first, until cancelled."""
    events = generate_realtime(plan.floor, since=plan.since, caught_up=progress.caught_up)
    values = (orjson.dumps(event) async for event in events)
    return await produce(values, settings=settings, keys="spec", progress=progress.report)


class Broker:
    """The local broker of `deploy/kafka/kafka.sh`, stopped at the end only when the demo started it."""

    def __init__(self, script: Path) -> None:
        self.script = script
        self.started_here = False

    async def _run(self, command: str, *, quiet: bool = False) -> asyncio.subprocess.Process:
        out = asyncio.subprocess.DEVNULL if quiet else None
        return await asyncio.create_subprocess_exec(
            "bash", str(self.script), command, stdout=out, start_new_session=True
        )  # its own session: a terminal's Ctrl-C reaches the demo, which stops the broker last

    async def start(self, stopping: asyncio.Event) -> bool:
        """Start the broker unless it runs already; False when it failed or a signal came first."""
        status = await self._run("status", quiet=True)
        if await status.wait() == 0:
            log.info("using the broker that is already running (it is left running)")
            return True
        self.started_here = True
        starting = await self._run("start")
        if await _unless(stopping, starting.wait()) is None:
            os.killpg(starting.pid, signal.SIGTERM)  # bash and the JVM it started; `stop` clears the rest
            await starting.wait()
            return False
        return starting.returncode == 0

    async def stop(self) -> None:
        if self.started_here:
            stopping = await self._run("stop")
            await stopping.wait()


async def _unless(stopping: asyncio.Event, awaitable: Awaitable[T]) -> T | None:
    """`awaitable`'s result, or None when `stopping` is set first (the awaitable is then cancelled)."""
    task = asyncio.ensure_future(awaitable)
    stop = asyncio.ensure_future(stopping.wait())
    await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    stop.cancel()
    if task.done():
        return task.result()
    task.cancel()
    return None


async def _wait_caught_up(settings: Settings, progress: _Progress) -> None:
    """Say when the worker has read everything produced (its health turns 200), once the backfill is out."""
    await progress.caught_up_event.wait()
    url = f"http://{settings.web_host}:{settings.web_port}/api/health"
    began = time.monotonic()
    while True:
        await asyncio.sleep(2.0)
        try:
            status = await asyncio.to_thread(_http_status, url)
        except OSError:
            continue
        if status == 200:
            log.info("worker caught up %.0fs after the backfill: the board shows it all", time.monotonic() - began)
            return


def _http_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own health URL
        return int(response.status)


async def run_demo(args: argparse.Namespace, settings: Settings, kafka_script: Path) -> int:
    """Broker, worker and simulator until SIGINT, SIGTERM or SIGHUP; then all of them stop, in that order."""
    from streams.topics import ensure_topics

    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()

    def on_signal(sig: signal.Signals) -> None:
        if not stopping.is_set():
            log.info("%s: stopping the simulator, the worker and the broker", sig.name)
        stopping.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    broker = Broker(kafka_script)
    worker: asyncio.subprocess.Process | None = None
    tasks: list[asyncio.Task[object]] = []
    code = 0
    try:
        if not await broker.start(stopping):
            return 0 if stopping.is_set() else 1
        try:
            if await _unless(stopping, asyncio.wait_for(ensure_topics(settings), 60)) is None:
                return 0
        except Exception as exc:  # noqa: BLE001 - one line for the user instead of a traceback
            log.error("cannot create the topics at %s: %s", settings.kafka_bootstrap, exc)
            return 1
        plan = plan_demo(args, settings, datetime.now(timezone.utc))
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "streams.cli",
            "worker",
            env=worker_env(plan, settings, dict(os.environ)),
            start_new_session=True,  # stopped by the demo, after the simulator and before the broker
        )
        progress = _Progress(plan)
        simulation = asyncio.create_task(simulate(plan, settings, progress))
        watcher = asyncio.create_task(_wait_caught_up(settings, progress))
        worker_done = asyncio.create_task(worker.wait())
        stop = asyncio.create_task(stopping.wait())
        tasks = [simulation, watcher, worker_done, stop]
        log.info(
            "board on http://%s:%d/ (also /metrics, /api/kpis); a floor of %dx%d reps at ~%.2g events/s%s; "
            "Ctrl-C stops",
            settings.web_host,
            settings.web_port,
            args.teams,
            args.reps,
            plan.rate,
            f", backfilling ~{plan.expected_backfill} events since {plan.since.isoformat()}" if plan.since else "",
        )
        await asyncio.wait({simulation, worker_done, stop}, return_when=asyncio.FIRST_COMPLETED)
        if worker_done.done() and not stopping.is_set():
            log.error("the worker exited with code %s: stopping", worker.returncode)
            code = 1
        elif simulation.done() and not stopping.is_set():
            error = simulation.exception()
            log.error("the simulator stopped: %s", error or "its stream ended")
            code = 1
    finally:
        began = time.monotonic()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=SIMULATOR_STOP_S)  # the producer flushes what it has
        if worker is not None and worker.returncode is None:
            worker.terminate()
            try:
                await asyncio.wait_for(worker.wait(), WORKER_STOP_S)
            except TimeoutError:
                log.warning("the worker did not stop within %.0fs: killing it", WORKER_STOP_S)
                worker.kill()
                await worker.wait()
        await broker.stop()
        stopped = "simulator, worker and broker" if broker.started_here else "simulator and worker"
        log.info("demo stopped (%s) in %.1fs", stopped, time.monotonic() - began)
    return code


def main(args: argparse.Namespace, settings: Settings, kafka_script: Path) -> int:
    """`salesfloor demo`: its log lines, and the asyncio run."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s demo: %(message)s", stream=sys.stderr)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    return asyncio.run(run_demo(args, settings, kafka_script))

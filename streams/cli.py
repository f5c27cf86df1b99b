"""The `salesfloor` command: worker, simulate, produce, recompute and demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from streams.errors import ConfigError, InvalidEvent, SalesfloorError
from streams.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
KAFKA_SCRIPT = ROOT / "deploy" / "kafka" / "kafka.sh"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"salesfloor: error: {exc}", file=sys.stderr)
        return 2
    try:
        return int(args.run(args, settings))
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="salesfloor",
        description="Live sales-floor KPIs from Kafka events. Settings come from SALESFLOOR_* variables.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    worker = commands.add_parser("worker", help="run a stream-processing worker (KPIs, /metrics, API)")
    worker.add_argument("--loglevel", default="info", choices=["debug", "info", "warning", "error"])
    worker.set_defaults(run=run_worker)

    from streams.sim import commands as sim

    simulate = commands.add_parser("simulate", help="produce (or write) a simulated sales floor")
    sim.configure_simulate(simulate)
    simulate.set_defaults(run=lambda a, s: asyncio.run(_with_topics(sim.run_simulate, a, s)))

    produce = commands.add_parser("produce", help="replay a JSONL file of events into the input topics")
    sim.configure_produce(produce)
    produce.set_defaults(run=lambda a, s: asyncio.run(_with_topics(sim.run_produce, a, s)))

    recompute = commands.add_parser("recompute", help="compute every KPI from a JSONL event log (audit)")
    recompute.add_argument("file", type=Path, help="one event JSON object per line")
    recompute.add_argument("--now", type=_aware_datetime, help="evaluation time, RFC 3339 (default: now)")
    recompute.add_argument("--date", type=date.fromisoformat, help="a past business day (YYYY-MM-DD)")
    recompute.add_argument(
        "--max-future-seconds",
        type=float,
        help="events stamped this much after --now are rejected (default: SALESFLOOR_MAX_FUTURE_SECONDS, 300)",
    )
    recompute.add_argument(
        "--deal-stages",
        type=_stages,
        help="comma-separated deal stages (default: SALESFLOOR_DEAL_STAGES, qualification,proposal,negotiation)",
    )
    recompute.set_defaults(run=run_recompute)

    from streams.sim import demo as sim_demo

    demo = commands.add_parser("demo", help="local broker + worker + simulated floor, until Ctrl-C")
    sim_demo.configure_demo(demo)
    demo.set_defaults(run=run_demo)
    return parser


async def _with_topics(command: Any, args: argparse.Namespace, settings: Settings) -> int:
    """Create missing topics first: a producer would auto-create them with broker defaults
    (targets not compacted)."""
    if getattr(args, "out", None) is None:
        from streams.topics import ensure_topics

        try:
            await ensure_topics(settings)
        except Exception as exc:  # noqa: BLE001 - the command itself reports an unreachable broker
            logging.getLogger("salesfloor").debug("could not create topics: %s", exc)
    return int(await command(args, settings))


def _aware_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError("needs an offset or Z")
    return value


def _stages(text: str) -> tuple[str, ...]:
    stages = tuple(part.strip() for part in text.split(",") if part.strip())
    if not stages:
        raise argparse.ArgumentTypeError("at least one deal stage is needed")
    return stages


def run_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run one Faust worker until it is stopped (SIGTERM/SIGINT)."""
    import faust

    from agents.pipeline import Pipeline
    from agents.runtime import tune_garbage_collector, tune_malloc
    from streams.app import create_app
    from streams.topics import ensure_topics

    exposed = settings.exposure_error()
    if exposed is not None:
        print(f"salesfloor: error: {exposed}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    tune_malloc()
    cause = _LastError()
    logging.getLogger("aiokafka").addHandler(cause)
    try:
        created = asyncio.run(asyncio.wait_for(ensure_topics(settings), timeout=60))
    except Exception as exc:  # noqa: BLE001 - one line for the operator instead of a traceback
        detail = cause.message or f"{type(exc).__name__}: {exc}"
        print(
            f"salesfloor: error: cannot use Kafka at {settings.kafka_bootstrap} "
            f"({settings.kafka_security_protocol}): {detail} "
            "- check the broker and the SALESFLOOR_KAFKA_* settings",
            file=sys.stderr,
        )
        return 2
    finally:
        logging.getLogger("aiokafka").removeHandler(cause)
    if created:
        logging.getLogger("salesfloor").warning("created topics %s", ", ".join(created))
    pipeline = Pipeline(settings, create_app(settings))
    tune_garbage_collector()
    worker = faust.Worker(pipeline.app, loglevel=args.loglevel.upper(), quiet=True)
    try:
        worker.execute_from_commandline()
    except SystemExit:  # mode turns a crash into an exit; one on purpose (a truncated changelog) says why, last
        reason = worker.crash_reason
        if isinstance(reason, SalesfloorError):
            print(f"salesfloor: error: {reason}", file=sys.stderr)
            return 3
        raise
    return 0


class _LastError(logging.Handler):
    """Keeps the last error aiokafka logged: its exception only says it could not bootstrap."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        self.message = " ".join(record.getMessage().split())[:300]


def run_recompute(args: argparse.Namespace, settings: Settings) -> int:
    """Decode the file as the worker would and print the reference computation of every KPI."""
    import orjson

    from streams.audit import reference
    from streams.records import decode_event

    now = args.now or datetime.now(timezone.utc)
    max_future_s = settings.max_future_seconds if args.max_future_seconds is None else args.max_future_seconds
    stages = args.deal_stages or settings.stages
    latest_us = reference.to_us(now) + round(max_future_s * 1_000_000)  # --now is the read time
    events: list[dict[str, Any]] = []
    rejected = 0
    with args.file.open("rb") as lines:
        for number, line in enumerate(lines, 1):
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            try:
                decode_event(line, currency=settings.currency, stages=stages, latest_us=latest_us)
            except InvalidEvent as exc:
                rejected += 1
                print(f"{args.file}:{number}: rejected ({exc.reason}): {exc}", file=sys.stderr)
                continue
            events.append(orjson.loads(line))
    result = reference.compute(
        events,
        now=now,
        tz=settings.timezone,
        sla_s=settings.lead_sla_seconds,
        retention_s=settings.retention_days * 86400,
        day=args.date,
        max_future_s=max_future_s,
        stages=stages,
    )
    sys.stdout.write(reference.format_report(result))
    print(f"{len(events)} events, {rejected} rejected", file=sys.stderr)
    return 0


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    """Start the local broker and a worker, backfill and keep a simulated floor flowing until a signal stops all."""
    from streams.sim import demo

    return demo.main(args, settings, KAFKA_SCRIPT)


if __name__ == "__main__":
    sys.exit(main())

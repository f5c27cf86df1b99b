"""The `salesfloor simulate` and `salesfloor produce` commands: their options, and a simulated floor or a
JSONL file sent to Kafka (or written to a file) with progress on stderr."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import AsyncIterable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Final

from streams.settings import Settings
from streams.sim.config import FloorConfig
from streams.sim.distort import KEY_MODES, Distorter, adistort, read_jsonl, write_jsonl
from streams.sim.produce import ProduceStats, produce
from streams.sim.realtime import generate_realtime, realtime_config
from streams.sim.simulator import generate

DEFAULT_REALTIME_RATE: Final = 5.0
KEYS_HELP: Final = "message keys: as SPEC §1 recommends, random per message, or none (default spec)"


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _when(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO date or time, got {text!r}") from None


def configure_simulate(parser: argparse.ArgumentParser) -> None:
    """Options of `salesfloor simulate`."""
    parser.add_argument("--teams", type=_positive_int, default=3, help="number of teams (default 3)")
    parser.add_argument("--reps", type=_positive_int, default=8, help="reps per team (default 8)")
    parser.add_argument(
        "--seed", type=int, default=0, help="random seed; with the same start it reproduces the same events (default 0)"
    )
    parser.add_argument(
        "--start",
        type=_when,
        help="simulated period start, ISO; without offset in the business time zone (default: today 00:00 there)",
    )
    parser.add_argument("--end", type=_when, help="simulated period end, ISO (default: now)")
    parser.add_argument(
        "--lead-rate", type=_positive_float, default=6.0, help="leads per hour per team in business hours (default 6)"
    )
    parser.add_argument(
        "--realtime", action="store_true", help="follow the wall clock from now on until Ctrl-C (ignores --start/--end)"
    )
    parser.add_argument(
        "--rate",
        type=_positive_float,
        help="with --realtime: average simulated events/s "
        f"(default {DEFAULT_REALTIME_RATE:g}); otherwise: cap on messages/s sent to "
        "Kafka (default: as fast as possible)",
    )
    parser.add_argument("--max-events", type=_positive_int, help="stop after this many events")
    parser.add_argument(
        "--out",
        type=Path,
        metavar="FILE.jsonl",
        help="write raw message values to this file instead of producing to Kafka",
    )
    parser.add_argument(
        "--shuffle",
        type=_share,
        default=0.0,
        help="share of messages delivered out of order, 1-500 positions late (0..1)",
    )
    parser.add_argument("--duplicates", type=_share, default=0.0, help="share of messages delivered twice (0..1)")
    parser.add_argument(
        "--malformed", type=_share, default=0.0, help="extra invalid messages, as a share of the events (0..1)"
    )
    parser.add_argument(
        "--late", type=_share, default=0.0, help="share of events replaced by a copy dated 60-90 days earlier (0..1)"
    )
    parser.add_argument("--keys", choices=KEY_MODES, default="spec", help=KEYS_HELP)
    parser.add_argument(
        "--no-calendars",
        dest="calendars",
        action="store_false",
        help="send no calendar.set: every team keeps the wall clock (default: all teams but the last send business "
        "hours; never with --realtime, whose floor works around the clock)",
    )


def configure_produce(parser: argparse.ArgumentParser) -> None:
    """Options of `salesfloor produce`."""
    parser.add_argument("file", type=Path, metavar="FILE.jsonl", help="raw message values, one per line")
    parser.add_argument("--rate", type=_positive_float, help="cap on messages/s (default: as fast as possible)")
    parser.add_argument("--keys", choices=KEY_MODES, default="spec", help=KEYS_HELP)


def _stderr_progress(stats: ProduceStats) -> None:
    print(f"salesfloor: {stats.summary()}", file=sys.stderr, flush=True)


def _config(args: argparse.Namespace, settings: Settings) -> FloorConfig:
    zone = settings.zone
    now = datetime.now(zone)
    start = args.start or now.replace(hour=0, minute=0, second=0, microsecond=0)
    end = args.end or now
    start = start if start.tzinfo else start.replace(tzinfo=zone)
    end = end if end.tzinfo else end.replace(tzinfo=zone)
    return FloorConfig(
        start=start,
        end=end,
        seed=args.seed,
        teams=args.teams,
        reps_per_team=args.reps,
        tz=settings.timezone,
        currency=settings.currency,
        lead_rate=args.lead_rate,
        deal_stages=settings.stages,
        max_events=args.max_events,
        calendars=args.calendars,
    )


async def _send(
    values: Iterable[bytes] | AsyncIterable[bytes], args: argparse.Namespace, settings: Settings, *, rate: float | None
) -> int:
    """Produce with progress on stderr; a broker problem ends in one line and exit code 1, not a trace."""
    from aiokafka.errors import KafkaError  # type: ignore[import-untyped, unused-ignore]

    try:
        stats = await produce(values, settings=settings, keys=args.keys, rate=rate, progress=_stderr_progress)
    except KafkaError as exc:
        print(f"salesfloor: Kafka at {settings.kafka_bootstrap}: {exc}", file=sys.stderr)
        return 1
    if stats.failed:
        print(f"salesfloor: {stats.failed} messages failed: {stats.first_error}", file=sys.stderr)
    return 0 if stats.failed == 0 else 1


async def run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    """`salesfloor simulate`: a period (or the live floor) into Kafka or a JSONL file."""
    try:
        cfg = _config(args, settings)
    except ValueError as exc:
        print(f"salesfloor simulate: error: {exc}", file=sys.stderr)
        return 2
    distorter = Distorter(
        seed=args.seed,
        shuffle=args.shuffle,
        duplicate=args.duplicates,
        malformed=args.malformed,
        late=args.late,
        currency=settings.currency,
    )
    if args.realtime:
        live = realtime_config(cfg, args.rate or DEFAULT_REALTIME_RATE)
        print(
            f"salesfloor simulate: real time, ~{args.rate or DEFAULT_REALTIME_RATE:g} events/s, "
            f"{cfg.teams}x{cfg.reps_per_team} reps; Ctrl-C stops",
            file=sys.stderr,
        )
        stream = adistort(generate_realtime(live), distorter)
        if args.out:
            with args.out.open("wb") as out:
                async for value in stream:
                    out.write(value + b"\n")
                    out.flush()
            return 0
        return await _send(stream, args, settings, rate=None)
    print(
        f"salesfloor simulate: {cfg.start.isoformat()} .. {cfg.end.isoformat()}, seed {cfg.seed}, "
        f"{cfg.teams}x{cfg.reps_per_team} reps",
        file=sys.stderr,
    )

    def values() -> Iterator[bytes]:
        for event in generate(cfg):
            for value, _ in distorter.feed(event):
                yield value
        for value, _ in distorter.close():
            yield value

    if args.out:
        count = write_jsonl(values(), args.out)
        print(f"salesfloor simulate: wrote {count} messages to {args.out}", file=sys.stderr)
        return 0
    return await _send(values(), args, settings, rate=args.rate)


async def run_produce(args: argparse.Namespace, settings: Settings) -> int:
    """`salesfloor produce FILE.jsonl`: replay raw values byte for byte into the input topics."""
    if not args.file.is_file():
        print(f"salesfloor produce: error: no such file: {args.file}", file=sys.stderr)
        return 2
    return await _send(read_jsonl(args.file), args, settings, rate=args.rate)

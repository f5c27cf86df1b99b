"""The Quix Streams peer of the benchmarks: two jobs over the pre-loaded input topics of a prefix.
Runs in its own venv (benchmarks/peers/setup.sh, var/peers-venv): imports nothing of the project.

    python benchmarks/peers/quix_job.py count  BOOTSTRAP PREFIX COUNT RESULT.json
    python benchmarks/peers/quix_job.py window BOOTSTRAP PREFIX COUNT RESULT.json --grace-ms G --state-dir DIR

`count`:  the Quix equivalent of bare_consumer.py: one Application (one consumer group) over the input
          topics, each value JSON-deserialized by Quix ("json" = orjson), counted; stops after COUNT.
`window`: the input topics concatenated, `group_by` team/rep, a 1-day tumbling window on event time
          (`occurred_at` by a timestamp extractor) with grace G ms, Count + Sum(amount), `.current()`;
          RocksDB and changelog topics as Quix's defaults. Stops after COUNT window updates (one per
          event that was not dropped as late), or after --idle-s without a message (events dropped).
          RESULT holds the last value of every window (team/rep, day): the caller compares them with
          the loaded events.

Times are time.monotonic() (comparable with the caller's); CPU from /proc/self/stat (utime + stime of
every thread, cutime + cstime of waited-for children) at the last event and at exit.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams import __version__ as QUIX_VERSION
from quixstreams.dataframe.windows import aggregations as agg
from quixstreams.models.topics import TopicAdmin, TopicManager

# The input topics of SPEC §1 (streams/topics.py INPUT_TOPICS; not imported: this venv has no project)
INPUT_TOPICS = ("leads", "calls", "emails", "deals", "meetings", "targets", "calendars")
TICK = os.sysconf("SC_CLK_TCK")
STARTED = time.monotonic()


def cpu_seconds() -> float:
    text = Path("/proc/self/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK  # utime stime cutime cstime


def vm_hwm_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def occurred_at_ms(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    """Event time: the window is over `occurred_at` (like ours), not the Kafka message timestamp."""
    try:
        return int(datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000)
    except (TypeError, KeyError, ValueError):
        return timestamp


def team_rep(value: dict[str, Any]) -> str:
    return f"{value.get('team_id')}/{value.get('rep_id') or ''}"


class ShortStreamIds(TopicManager):
    """Quix names the internal topics of a stream after its consumer group and every input topic
    (`repartition__<group>--<topic>--<topic>--...--<name>`, the changelogs likewise): with our 7 prefixed
    input topics concatenated that passes Kafka's topic-name limit and `group_by` refuses to start.
    Here the stream id of concatenated topics is a short digest of their names; nothing else differs."""

    def stream_id_from_topics(self, topics: Any) -> str:
        names: list[str] = sorted({t.name for t in topics})
        if len(names) == 1:
            return names[0]
        return "merged-" + hashlib.sha256("--".join(names).encode()).hexdigest()[:12]


class Tracker:
    """Counts what reaches the end of the pipeline and notes when the COUNT-th one did."""

    def __init__(self, want: int) -> None:
        self.want = want
        self.seen = 0
        self.decoded = 0
        self.first: float | None = None
        self.next_report = 0.0
        self.done: float | None = None
        self.cpu_at_done: float | None = None
        self.late = 0
        self.late_examples: list[dict[str, Any]] = []
        self.windows: dict[tuple[str, int], tuple[int, float]] = {}

    def _tick(self) -> None:
        self.seen += 1
        if self.seen == 1:
            self.first = self.next_report = time.monotonic()
        elif not self.seen & 0x3FFF and time.monotonic() >= self.next_report:  # progress for the caller
            print(f"{self.seen:,}/{self.want:,}", flush=True)
            self.next_report = time.monotonic() + 5
        if self.seen == self.want:
            self.done = time.monotonic()
            self.cpu_at_done = cpu_seconds()

    def count(self, value: Any) -> None:
        self.decoded += isinstance(value, dict)
        self._tick()

    def window(self, value: dict[str, Any], key: Any, timestamp: int, headers: Any) -> None:
        # `.current()` emits the window's value after each event: the last one per window is its total
        self.windows[(key, value["start"])] = (value["events"], value["amount"])
        self._tick()

    def on_late(
        self, value: Any, key: Any, timestamp_ms: int, late_by_ms: int, start: int, end: int, *rest: Any
    ) -> bool:
        self.late += 1
        if len(self.late_examples) < 5:
            self.late_examples.append({"key": key, "timestamp_ms": timestamp_ms, "late_by_ms": late_by_ms})
        return False  # counted here; not logged


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("job", choices=("count", "window"))
    parser.add_argument("bootstrap")
    parser.add_argument("prefix")
    parser.add_argument("count", type=int)
    parser.add_argument("result", type=Path)
    parser.add_argument("--grace-ms", type=int, default=0)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--idle-s", type=float, default=15.0, help="stop after this long without a message")
    args = parser.parse_args()

    group = f"{args.prefix}quix-{args.job}-{uuid.uuid4().hex[:6]}"
    state_dir = args.state_dir or Path(tempfile.mkdtemp(prefix="quix-state-"))
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=str(state_dir),
        loglevel="WARNING",
        # Quix's own TopicManager, only with short ids for concatenated streams (see ShortStreamIds)
        topic_manager=ShortStreamIds(topic_admin=TopicAdmin(broker_address=args.bootstrap), consumer_group=group),
    )
    tracker = Tracker(args.count)
    if args.job == "count":
        for short in INPUT_TOPICS:
            # one StreamingDataFrame per topic (Quix's multi-topic app: one consumer, no time alignment)
            app.dataframe(app.topic(args.prefix + short, value_deserializer="json")).update(tracker.count)
    else:
        sdfs = [
            app.dataframe(app.topic(args.prefix + short, value_deserializer="json", timestamp_extractor=occurred_at_ms))
            for short in INPUT_TOPICS
        ]
        sdf = functools.reduce(lambda a, b: a.concat(b), sdfs)
        sdf = sdf.group_by(team_rep, name="team_rep")
        sdf = (
            sdf.tumbling_window(timedelta(days=1), grace_ms=args.grace_ms, on_late=tracker.on_late)
            .agg(events=agg.Count(), amount=agg.Sum("amount"))
            .current()
        )
        sdf.update(tracker.window, metadata=True)

    print(f"{args.job}: started, group {group}; waiting for the first event", flush=True)
    # Documented stop conditions: after COUNT outputs, or when no message came for --idle-s seconds
    app.run(count=args.count, timeout=args.idle_s, collect=False)
    ended = time.monotonic()
    result: dict[str, Any] = {
        "job": args.job,
        "quixstreams": QUIX_VERSION,
        "consumer_group": group,
        "records": tracker.seen,
        "decoded": tracker.decoded,
        "start_s": STARTED,
        "first_s": tracker.first or ended,
        "done_s": tracker.done or ended,
        "reached_count": tracker.done is not None,
        "exit_s": ended,
        "cpu_s": tracker.cpu_at_done if tracker.cpu_at_done is not None else cpu_seconds(),
        "cpu_s_at_exit": cpu_seconds(),
        "vm_hwm_kib": vm_hwm_kib(),
        "grace_ms": args.grace_ms,
    }
    if args.job == "window":
        result["late"] = tracker.late
        result["late_examples"] = tracker.late_examples
        # "team/rep|YYYY-MM-DD" (the window's UTC day) -> [events, sum of amount], as common.Expected.days
        result["windows"] = {
            f"{key}|{datetime.fromtimestamp(start / 1000, timezone.utc).date().isoformat()}": [events, amount]
            for (key, start), (events, amount) in tracker.windows.items()
        }
        result["state_dir_bytes"] = sum(p.stat().st_size for p in state_dir.rglob("*") if p.is_file())
    if args.state_dir is None:
        shutil.rmtree(state_dir, ignore_errors=True)
    args.result.write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    logging.getLogger("quixstreams").setLevel(logging.WARNING)
    sys.exit(main())

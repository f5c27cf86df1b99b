"""Hostile input on the real broker.

1. A fuzz of more than 10,000 malformed messages of every kind SPEC §2 rejects (random bytes, wrong types,
   ~900 KB strings, 10,000-level nesting, NaN/Infinity, naive timestamps, unknown types, control
   characters and a leading `_` in ids, out-of-range and huge numbers) mixed into a simulated floor: the
   worker never stops, every bad message is in the dead-letter topic with its reason (exactly as many as
   were sent), and the KPIs of the valid events equal the reference computation.
2. A flood of 100,000 distinct reps with SALESFLOOR_MAX_REPS=1000: /metrics keeps at most 1000 rep label
   values (+ `_all`, `_other`) and a bounded size, the worker's memory stays bounded, and team and floor
   totals stay exact.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import random
import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer
from prometheus_client.parser import text_string_to_metric_families

from streams.audit import reference
from streams.errors import InvalidEvent
from streams.records import REASONS
from streams.sim.distort import malformed_value
from streams.sim.simulator import FloorConfig
from streams.topics import INPUT_TOPICS
from tests.integration.floor import converge, decode_as_read, distorted, produce_values, valid_events
from tests.integration.workers import Worker, worker_env
from tests.kpi_compare import differences, parse_metrics

MALFORMED_COUNT = 10_500
HUGE = 900_000  # bytes: under the 1 MiB default max message size of the broker and the producers
NEST = 10_000


# --- the fuzz ------------------------------------------------------------------------------------


def _stamp(rng: random.Random) -> str:
    at = datetime.now(timezone.utc) - timedelta(seconds=rng.randrange(1, 6 * 3600))
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(rng: random.Random, kind: str | None = None) -> dict[str, Any]:
    """A valid event of a random type with fresh ids, so that one broken field makes it invalid."""
    kind = kind or rng.choice(
        [
            "lead.created",
            "call.completed",
            "email.sent",
            "deal.created",
            "deal.won",
            "deal.lost",
            "lead.disqualified",
            "target.set",
        ]
    )
    event: dict[str, Any] = {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "type": kind,
        "occurred_at": _stamp(rng),
        "team_id": "team-fuzz",
        "rep_id": "rep-fuzz-01",
    }
    n = f"{rng.getrandbits(40):010x}"
    if kind.startswith("lead."):
        event["lead_id"] = f"lead-fz-{n}"
    elif kind == "call.completed":
        event.update(call_id=f"call-fz-{n}", direction="outbound", outcome="connected", duration_s=61.5)
    elif kind == "email.sent":
        event["email_id"] = f"email-fz-{n}"
    elif kind.startswith("deal."):
        event.update(deal_id=f"deal-fz-{n}", amount=1234.5, currency="EUR")
    elif kind == "target.set":
        event.update(period=event["occurred_at"][:7], metric="won_amount", value=50000.0)
    return event


def _with_raw(event: dict[str, Any], name: str, raw: bytes) -> bytes:
    marker = f"@@{name}@@"
    return orjson.dumps({**event, name: marker}).replace(f'"{marker}"'.encode(), raw)


def _ids(event: dict[str, Any]) -> list[str]:
    return [k for k in event if k.endswith("_id")]


def _f_random_bytes(rng: random.Random) -> bytes:
    body = rng.randbytes(rng.randrange(0, 300))
    return rng.choice([b"\xff" + body, b"\x00" + body, body + b"\xc3", b"\x80" + body])


def _f_not_json(rng: random.Random) -> bytes:
    whole = orjson.dumps(_event(rng))
    return rng.choice(
        [
            whole[: rng.randrange(0, len(whole))],
            whole + b",",
            b"{" + whole,
            b"\xef\xbb\xbf" + whole,
            whole.replace(b'"', b"'"),
            b"",
            b" ",
            b"undefined",
            b"{,}",
            b'{"a":1,}',
        ]
    )


def _f_not_object(rng: random.Random) -> bytes:
    return rng.choice([b"[]", b"0", b"-1e5", b"true", b"null", b'"lead.created"', orjson.dumps([_event(rng)])])


def _f_wrong_type(rng: random.Random) -> bytes:
    event = _event(rng)
    name = rng.choice(
        [
            "event_id",
            "type",
            "occurred_at",
            "team_id",
            "rep_id",
            *_ids(event),
            *(k for k in ("amount", "duration_s", "value") if k in event),
        ]
    )
    if name in ("amount", "duration_s", "value"):
        bad: Any = rng.choice(["12", "1e3", True, False, [1], {"v": 1}])
    elif name == "rep_id" and event["type"] in ("lead.created", "lead.disqualified", "target.set"):
        bad = rng.choice([7, 1.5, True, ["rep"], {"id": "rep"}])  # optional, but a present rep_id is a string
    else:
        bad = rng.choice([42, -1, 4.5, True, False, ["x"], {"id": "x"}, 2**63 - 1])
    return orjson.dumps({**event, name: bad})


def _f_nan(rng: random.Random) -> bytes:
    kind = rng.choice(["call.completed", "deal.created", "deal.won", "target.set"])
    event = _event(rng, kind)
    name = {"call.completed": "duration_s", "target.set": "value"}.get(kind, "amount")
    return _with_raw(event, name, rng.choice([b"NaN", b"Infinity", b"-Infinity", b"nan", b"inf", b"1e999", b"-1e999"]))


def _f_out_of_range(rng: random.Random) -> bytes:
    kind = rng.choice(["call.completed", "deal.created", "deal.won", "deal.lost", "target.set"])
    event = _event(rng, kind)
    if kind == "call.completed":
        return _with_raw(event, "duration_s", rng.choice([b"-1", b"-0.001", b"86400.001", b"86401", b"1e9"]))
    name = "value" if kind == "target.set" else "amount"
    return _with_raw(event, name, rng.choice([b"-0.01", b"-5", b"1000000000000", b"1e12", b"1e15", b"1.7e308"]))


def _f_big_integer(rng: random.Random) -> bytes:
    kind = rng.choice(["call.completed", "deal.created", "deal.won", "target.set"])
    event = _event(rng, kind)
    name = {"call.completed": "duration_s", "target.set": "value"}.get(kind, "amount")
    digits = "9" * rng.randrange(20, 400)
    return _with_raw(event, name, rng.choice(["", "-"]).encode() + digits.encode())


def _f_naive_timestamp(rng: random.Random) -> bytes:
    stamp = _stamp(rng)
    bad = rng.choice(
        [
            stamp[:-1],
            stamp[:19],
            stamp[:10] + " " + stamp[11:19],
            stamp[:10],
            stamp[:16],
            stamp[:-1] + "+0100",
            stamp[:-1] + "+25:00",
            stamp[:5] + "13" + stamp[7:],
            stamp[:5] + "02-30" + stamp[10:],
            "0000" + stamp[4:],
            stamp.replace("T", "x"),
            "now",
            "1732550000",
            "",
        ]
    )
    return orjson.dumps({**_event(rng), "occurred_at": bad})


def _f_unknown_type(rng: random.Random) -> bytes:
    bad = rng.choice(
        [
            "lead.deleted",
            "LEAD.CREATED",
            "lead.created ",
            " call.completed",
            "call",
            "",
            "*",
            "email.bounced",
            "deal.reopened",
            "target.unset",
            "lead.created\x00",
        ]
    )
    return orjson.dumps({**_event(rng), "type": bad})


def _f_control_id(rng: random.Random) -> bytes:
    event = _event(rng)
    name = rng.choice(["event_id", "team_id", "rep_id", *_ids(event)])
    value = str(event[name])[:60]
    at = rng.randrange(len(value) + 1)
    char = chr(rng.choice([*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]))
    return orjson.dumps({**event, name: value[:at] + char + value[at:]})


def _f_underscore_id(rng: random.Random) -> bytes:
    event = _event(rng)
    name = rng.choice(["event_id", "team_id", "rep_id", *_ids(event)])
    bad = rng.choice(["_all", "_other", "_unassigned", "_", "_" + str(event[name])])
    return orjson.dumps({**event, name: bad})


def _f_id_length(rng: random.Random) -> bytes:
    event = _event(rng, "call.completed")
    name, limit = rng.choice([("event_id", 128), ("team_id", 64), ("rep_id", 64), ("call_id", 128)])
    return orjson.dumps({**event, name: rng.choice(["", "x" * (limit + 1), "y" * (limit * 3)])})


def _f_missing(rng: random.Random) -> bytes:
    event = _event(rng)
    required = ["event_id", "type", "occurred_at", "team_id", *(k for k in _ids(event) if k != "rep_id")]
    if event["type"] in ("call.completed", "email.sent", "deal.created", "deal.won", "deal.lost"):
        required.append("rep_id")
    name = rng.choice(required)
    if rng.random() < 0.5:
        del event[name]
    else:
        event[name] = None
    return orjson.dumps(event)


def _f_bad_value(rng: random.Random) -> bytes:
    kind, name, bad = rng.choice(
        [
            ("call.completed", "direction", "sideways"),
            ("call.completed", "outcome", "answered"),
            ("lead.created", "source", "billboard"),
            ("target.set", "metric", "calls"),
            ("target.set", "period", "2026-13"),
            ("target.set", "period", "2026-1"),
            ("deal.won", "currency", "USD"),
            ("deal.created", "currency", "eur"),
        ]
    )
    return orjson.dumps({**_event(rng, kind), name: bad})


def _f_nesting(rng: random.Random) -> bytes:
    depth = NEST
    nested_list = b"[" * depth + b"]" * depth
    nested_obj = b'{"a":' * depth + b"1" + b"}" * depth
    event = _event(rng)
    return rng.choice(
        [nested_list, nested_obj, _with_raw(event, "team_id", nested_list), _with_raw(event, "event_id", nested_obj)]
    )


def _f_simulator(rng: random.Random) -> bytes:
    """The simulator's own malformed kinds (streams.sim.distort), on a fresh event."""
    return malformed_value(rng, _event(rng))[0]


FUZZERS = {
    "random_bytes": _f_random_bytes,
    "not_json": _f_not_json,
    "not_object": _f_not_object,
    "wrong_type": _f_wrong_type,
    "nan_infinity": _f_nan,
    "out_of_range": _f_out_of_range,
    "big_integer": _f_big_integer,
    "naive_timestamp": _f_naive_timestamp,
    "unknown_type": _f_unknown_type,
    "control_char_id": _f_control_id,
    "underscore_id": _f_underscore_id,
    "id_length": _f_id_length,
    "missing_field": _f_missing,
    "bad_value": _f_bad_value,
    "deep_nesting": _f_nesting,
    "simulator": _f_simulator,
}


def huge_values(rng: random.Random) -> list[tuple[bytes, str]]:
    """~900 KB messages: a huge id, team, type, text field, timestamp, non-JSON text and binary."""
    event = _event(rng, "lead.disqualified")
    big = "x" * HUGE
    return [
        (orjson.dumps({**event, "event_id": big}), "huge/event_id"),
        (orjson.dumps({**_event(rng), "team_id": "t" * HUGE}), "huge/team_id"),
        (orjson.dumps({**_event(rng), "type": "y" * HUGE}), "huge/type"),
        (orjson.dumps({**event, "event_id": str(uuid.UUID(int=rng.getrandbits(128))), "reason": big}), "huge/reason"),
        (orjson.dumps({**_event(rng), "occurred_at": _stamp(rng)[:-1] + "0" * HUGE + "Z"}), "huge/occurred_at"),
        (b"sales floor " * (HUGE // 12), "huge/not_json"),
        (b"[" * HUGE, "huge/nesting"),
    ]


def oversize_values(rng: random.Random) -> list[tuple[bytes, str]]:
    """~900 KB messages whose dead-letter record, as SPEC §2 words it, is larger than the message: JSON
    escapes doubled when the text is quoted again (1.8 MB), binary as base64 (1.2 MB)."""
    return [
        (orjson.dumps({**_event(rng), "team_id": '"\\' * (HUGE // 4)}), "huge/escapes"),
        (b"\xff" + rng.randbytes(HUGE), "huge/binary"),
    ]


def hostile_values(seed: int, count: int) -> list[tuple[bytes, str]]:
    rng = random.Random(seed)
    names = sorted(FUZZERS)
    out = [(FUZZERS[name](rng), name) for name in (names[i % len(names)] for i in range(count))]
    return out + huge_values(rng)


def deadlettered_raw(body: dict[str, Any]) -> bytes:
    value = str(body["value"])
    return value.encode() if body["value_encoding"] == "text" else base64.b64decode(value)


async def read_deadletter(bootstrap: str, topic: str, expect: int, wait_s: float) -> list[Any]:
    """Every record of the dead-letter topic once `expect` arrived (or the time ran out), plus any that
    arrive within 3 s more (so extra ones are seen too)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        quiet_until: float | None = None
        while loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                records.extend(messages)
            if len(records) >= expect:
                quiet_until = quiet_until or loop.time() + 3
                if loop.time() >= quiet_until:
                    break
    finally:
        await consumer.stop()
    return records


async def uncommitted(bootstrap: str, prefix: str) -> dict[str, int]:
    """Input-topic messages past the ingest group's committed offsets, per partition (0 = all committed)."""
    from aiokafka import TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(f"{prefix}salesfloor-ingest")
        cluster = await consumer._client.fetch_all_metadata()  # noqa: SLF001 - no public equivalent
        partitions = [
            TopicPartition(prefix + t, p)
            for t in INPUT_TOPICS
            for p in sorted(cluster.partitions_for_topic(prefix + t) or ())
        ]
        assert len(partitions) >= len(INPUT_TOPICS), partitions
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()
    out = {}
    for tp in partitions:
        meta = committed.get(tp)
        done = meta.offset if meta is not None and meta.offset >= 0 else 0
        out[f"{tp.topic}[{tp.partition}]"] = ends[tp] - done
    return out


async def wait_committed(bootstrap: str, prefix: str, wait_s: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + wait_s
    behind = await uncommitted(bootstrap, prefix)
    while any(behind.values()) and time.monotonic() < deadline:
        await asyncio.sleep(1)
        behind = await uncommitted(bootstrap, prefix)
    return {tp: n for tp, n in behind.items() if n}


def counter_total(text: str, name: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == name)


async def test_fuzz_never_stops_the_worker_and_every_bad_message_is_dead_lettered(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    config = FloorConfig(
        seed=23,
        teams=3,
        reps_per_team=5,
        intensity=2.0,
        lead_rate=10,
        start=now - timedelta(hours=10),
        end=now - timedelta(seconds=1),
    )
    valid = [v for v, _ in distorted(config, shuffle=0.05, duplicate=0.01)]
    events = valid_events(valid)
    assert len(events) == len(valid)

    bad = hostile_values(seed=77, count=MALFORMED_COUNT)
    # every fuzzed message breaks SPEC §2; the decoder agrees (else it is a decoder bug, reported as such)
    accepted = []
    for value, label in bad:
        try:
            decode_as_read(value)
        except InvalidEvent:
            continue
        accepted.append((label, value[:200]))
    assert not accepted, f"{len(accepted)} malformed messages pass the decoder, e.g. {accepted[:5]}"
    kinds = Counter(label.split("/")[0] for _, label in bad)
    assert len(bad) >= 10_000 and len(kinds) == len(FUZZERS) + 1, kinds

    mixed = [*((v, "valid") for v in valid), *bad]
    random.Random(5).shuffle(mixed)
    values = [v for v, _ in mixed]
    # valid events keep their own relative order only loosely: reordering is part of the contract anyway

    worker = Worker(worker_env(kafka_bootstrap, topic_prefix), tmp_path / "w.log").start()
    try:
        worker.wait_ready()
        pid = worker.process.pid if worker.process else -1
        t0 = time.monotonic()
        await produce_values(values, kafka_bootstrap, topic_prefix, keys="random")
        produced_s = time.monotonic() - t0

        dead = await read_deadletter(kafka_bootstrap, topic_prefix + "deadletter", len(bad), wait_s=150)
        assert worker.alive(), f"the worker stopped:\n{worker.log_tail()}"
        bodies = [orjson.loads(r.value) for r in dead]
        by_reason = Counter(b["reason"] for b in bodies)
        sent = Counter(hashlib.sha256(v).hexdigest() for v, _ in bad)
        got = Counter(
            b["value_sha256"] if b.get("value_truncated") else hashlib.sha256(deadlettered_raw(b)).hexdigest()
            for b in bodies
        )
        missing = [label for v, label in bad if got[hashlib.sha256(v).hexdigest()] == 0]
        assert len(dead) == len(bad), (
            f"{len(dead)} dead-letter records for {len(bad)} malformed messages; missing e.g. "
            f"{Counter(m if m.startswith('huge') else m.split('/')[0] for m in missing).most_common(12)}\n"
            f"{worker.log_tail(30)}"
        )
        assert got == sent
        assert set(by_reason) <= set(REASONS), by_reason
        assert all(b["error"] and b["topic"].startswith(topic_prefix) and b["offset"] >= 0 for b in bodies)

        text = await asyncio.to_thread(worker.metrics)
        assert counter_total(text, "salesfloor_events_rejected_total") == len(bad)
        await asyncio.to_thread(converge, [worker], events, timeout=120)
        assert worker.alive() and worker.process is not None and worker.process.pid == pid
        # no agent crashed and restarted on the way, and the group committed every input message
        assert "Crashed" not in worker.log_path.read_text(errors="replace"), worker.log_tail(40)
        assert await wait_committed(kafka_bootstrap, topic_prefix) == {}
        print(
            f"fuzz: {len(bad)} malformed + {len(valid)} valid produced in {produced_s:.1f}s, "
            f"all dead-lettered by reason {dict(by_reason)}; KPIs exact"
        )
    finally:
        worker.stop()


async def test_message_too_big_to_dead_letter_verbatim(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    """A ~900 KB message fits the broker, but its dead-letter record as SPEC §2 words it does not (escaped
    again: 1.8 MB; base64: 1.2 MB). It must still be dead-lettered (with its reason, position and whatever
    part of the value fits) and counted, and must not crash the ingest agent."""
    now = datetime.now(timezone.utc)
    config = FloorConfig(
        seed=29, teams=2, reps_per_team=3, start=now - timedelta(hours=3), end=now - timedelta(seconds=1)
    )
    valid = [v for v, _ in distorted(config, shuffle=0.05)]
    events = valid_events(valid)
    rng = random.Random(99)
    oversize = oversize_values(rng)
    small = [(FUZZERS[name](rng), name) for name in sorted(FUZZERS)]
    bad = [*small, *oversize]
    for value, _ in bad:
        try:
            decode_as_read(value)
        except InvalidEvent:
            continue
        raise AssertionError(f"decodes: {value[:100]!r}")
    values = [v for v, _ in bad] + valid
    random.Random(1).shuffle(values)

    worker = Worker(worker_env(kafka_bootstrap, topic_prefix), tmp_path / "w.log").start()
    problems: list[str] = []
    try:
        worker.wait_ready()
        await produce_values(values, kafka_bootstrap, topic_prefix, keys="random")
        dead = await read_deadletter(kafka_bootstrap, topic_prefix + "deadletter", len(bad), wait_s=60)
        bodies = [orjson.loads(r.value) for r in dead]
        try:
            await asyncio.to_thread(converge, [worker], events, timeout=90)
        except AssertionError as exc:
            status, health = worker.api("/api/health")
            lag = {tp: n for tp, n in health.get("lag", {}).items() if n}
            problems.append(
                f"KPIs of the valid events never converged ({str(exc).splitlines()[0]}); "
                f"/api/health {status} ready={health.get('ready')} lag={lag}"
            )
        text = await asyncio.to_thread(worker.metrics)
        log = worker.log_path.read_text(errors="replace")
        assert worker.alive(), worker.log_tail()
        if len(bodies) != len(bad):
            problems.append(f"{len(bodies)} dead-letter records for {len(bad)} malformed messages")
        got = {hashlib.sha256(deadlettered_raw(b)).hexdigest() for b in bodies}
        lost = [label for v, label in small if hashlib.sha256(v).hexdigest() not in got]
        if lost:
            problems.append(f"small malformed messages not dead-lettered: {lost}")
        big = [b for b in bodies if len(str(b["value"])) > 100_000 or any("trunc" in k for k in b)]
        reasons = sorted(b["reason"] for b in big)
        if reasons != ["bad_id", "invalid_json"]:
            problems.append(f"oversize messages dead-lettered with reasons {reasons}, want bad_id and invalid_json")
        rejected = counter_total(text, "salesfloor_events_rejected_total")
        if rejected != len(bad):
            problems.append(f"salesfloor_events_rejected_total is {rejected:g}, {len(bad)} were rejected")
        crashes = [line[:300] for line in log.splitlines() if "Crashed reason=" in line]
        if crashes:
            problems.append(f"the ingest agent crashed {len(crashes)}x: {crashes[0]}")
        behind = await wait_committed(kafka_bootstrap, topic_prefix, wait_s=30)
        if behind:
            problems.append(f"input offsets never committed past: {behind}")
    finally:
        worker.stop()
    assert not problems, "\n".join(problems)


# --- the rep flood -------------------------------------------------------------------------------

FLOOD_REPS = 100_000
MAX_REPS = 1000
FLOOD_TEAMS = 4
RSS_LIMIT_MB = 1536
FLOOD_TIMEOUT_S = 420  # ~160 s on an idle 2-CPU box; the rest is headroom for a loaded CI machine


def flood_values(now: datetime) -> list[bytes]:
    """One connected outbound call per new rep, 4 teams, spread over 70 to 120 minutes ago (before
    `last_60m`, so the flood costs day and month buckets only and the test stays within minutes)."""
    out = []
    for i in range(FLOOD_REPS):
        at = (now - timedelta(seconds=4200 + (i * 3000) // FLOOD_REPS)).isoformat(timespec="milliseconds")
        out.append(
            orjson.dumps(
                {
                    "event_id": f"flood-{i:06d}",
                    "type": "call.completed",
                    "occurred_at": at.replace("+00:00", "Z"),
                    "team_id": f"team-{i % FLOOD_TEAMS}",
                    "rep_id": f"rep-flood-{i:06d}",
                    "call_id": f"call-flood-{i:06d}",
                    "direction": "outbound",
                    "outcome": "connected",
                    "duration_s": 30 + i % 7,
                }
            )
        )
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class RssSampler(threading.Thread):
    """Samples a process's resident memory twice a second; `peak` is the largest sample."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples, self.done = pid, 0.0, 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            try:
                self.peak = max(self.peak, rss_mb(self.pid))
                self.samples += 1
            except (OSError, AssertionError):
                return
            self.done.wait(0.5)


def exposition_bytes_per_key(now: datetime) -> tuple[int, int]:
    """(series, bytes) the largest team/rep key costs in /metrics, from the reference: every series the
    reference has for a key of the flood, written with the flood's longest team and rep names and a
    25-character value. Each key the worker exports by name costs at most this."""
    one = [orjson.loads(v) for v in flood_values(now)[: FLOOD_TEAMS * 2]]
    longest = {"team": f"team-{FLOOD_TEAMS - 1}", "rep": f"rep-flood-{FLOOD_REPS - 1:06d}"}
    per_key: dict[tuple[str, str], list[int]] = {}
    for name, labels in reference.compute(one, now=now):
        fields = dict(labels)
        owner = (fields.get("team", ""), fields.get("rep", ""))
        fields.update({k: v for k, v in longest.items() if k in fields and fields[k] != "_all"})
        text = ",".join(f'{k}="{v}"' for k, v in sorted(fields.items()))
        per_key.setdefault(owner, []).append(len(f"{name}{{{text}}} {'9' * 25}\n"))
    return max(len(v) for v in per_key.values()), max(sum(v) for v in per_key.values())


def rep_values(text: str) -> set[str]:
    return {s.labels["rep"] for f in text_string_to_metric_families(text) for s in f.samples if "rep" in s.labels}


async def test_rep_flood_keeps_metrics_and_memory_bounded(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    now = datetime.now(timezone.utc)
    values = flood_values(now)
    events = [orjson.loads(v) for v in values]
    env = worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_MAX_REPS=str(MAX_REPS))
    worker = Worker(env, tmp_path / "w.log").start()
    try:
        worker.wait_ready()
        assert worker.process is not None
        baseline = rss_mb(worker.process.pid)
        sampler = RssSampler(worker.process.pid)
        sampler.start()
        t0 = time.monotonic()
        await produce_values(values, kafka_bootstrap, topic_prefix, keys="random")
        produced_s = time.monotonic() - t0

        # team and floor totals are exact: every rep counted, the capped ones under `_other`. Scraping
        # 100,000 reps is not free, so scrape only when health says every partition is read to its end.
        want = reference.compute(events, now=datetime.now(timezone.utc))
        want = {k: v for k, v in want.items() if dict(k[1]).get("rep", "_all") == "_all"}
        deadline = time.monotonic() + FLOOD_TIMEOUT_S
        problems: list[str] = ["never caught up"]
        scrapes: list[float] = []
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            assert worker.alive(), worker.log_tail()
            if not worker.health().get("ready"):
                continue
            s0 = time.monotonic()
            text = await asyncio.to_thread(worker.metrics)
            scrapes.append(time.monotonic() - s0)
            got = {
                k: v
                for k, v in parse_metrics(text).items()
                if dict(k[1]).get("rep", "_all") == "_all" and k[0] != "salesfloor_consumer_lag"
            }
            problems = differences(got, want)
            if not problems:
                break
        processed_s = time.monotonic() - t0
        sampler.done.set()
        sampler.join()
        assert worker.alive(), worker.log_tail()
        assert not problems, f"not exact after {processed_s:.0f}s:\n" + "\n".join(problems[:10])

        # at most MAX_REPS reps by name, plus `_all` and `_other`
        reps = rep_values(text)
        assert len(reps - {"_all", "_other"}) <= MAX_REPS and {"_all", "_other"} <= reps, len(reps)
        series = parse_metrics(text)
        # every team's `_other` holds exactly the calls of its reps that are not exported by name
        for team in range(FLOOD_TEAMS):
            labels = {"team": f"team-{team}", "window": "month"}
            named = sum(
                v
                for (name, lab), v in series.items()
                if name == "salesfloor_calls_outbound"
                and dict(lab)["team"] == labels["team"]
                and dict(lab)["window"] == "month"
                and dict(lab)["rep"] not in ("_all", "_other")
            )
            other = series[("salesfloor_calls_outbound", tuple(sorted({**labels, "rep": "_other"}.items())))]
            total = want[("salesfloor_calls_outbound", tuple(sorted({**labels, "rep": "_all"}.items())))]
            assert named + other == total > 0, (team, named, other, total)

        # size: the keys exported (1000 reps + `_other` and `_all` per team + the floor) x what one key
        # costs in the reference's series, + 64 KiB for HELP/TYPE lines, operations metrics and lag.
        # Without the cap it would be ~100x that.
        per_key_series, per_key_bytes = exposition_bytes_per_key(now)
        keys = MAX_REPS + 2 * FLOOD_TEAMS + 1
        bound = keys * per_key_bytes + 64 * 1024
        size = len(text.encode())
        kpi_lines = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        assert size <= bound, (size, bound)
        assert kpi_lines <= keys * per_key_series + 1000, kpi_lines

        # memory: 100,000 reps x (entity, partial and aggregate buckets) is real state kept for the
        # retention (SPEC §3), so it grows with the reps; it must stay within a small VM's budget
        assert sampler.peak < RSS_LIMIT_MB, (sampler.peak, RSS_LIMIT_MB)
        print(
            f"flood: {FLOOD_REPS} reps produced in {produced_s:.1f}s, exact after {processed_s:.1f}s; "
            f"/metrics {size / 1024:.0f} KiB, {kpi_lines} lines (bound {bound / 1024:.0f} KiB: "
            f"{keys} keys x "
            f"{per_key_series} series, {per_key_bytes} B), {len(reps)} rep label values, scrapes "
            f"{max(scrapes):.2f}s max; RSS {baseline:.0f} MB before, peak {sampler.peak:.0f} MB "
            f"({sampler.samples} samples, limit {RSS_LIMIT_MB} MB)"
        )
    finally:
        worker.stop()

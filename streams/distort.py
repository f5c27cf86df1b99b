"""Delivery as it really happens: reordered, duplicated, late and malformed messages, the raw-value helpers
(JSONL files, topic and key of a message value) and `produce`, which sends raw values to Kafka."""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import logging
import random
import time
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final, Literal

import orjson

from streams.settings import Settings
from streams.topics import COMPACTED, INPUT_TOPICS, TOPIC_OF_TYPE, spec_key

log = logging.getLogger(__name__)

EventDict = dict[str, Any]
KeyMode = Literal["spec", "random", "none"]
KEY_MODES: Final = ("spec", "random", "none")

COMMON_REQUIRED: Final = ("event_id", "type", "occurred_at", "team_id")
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    "lead.created": ("lead_id",),
    "lead.assigned": ("lead_id", "rep_id"),
    "lead.disqualified": ("lead_id",),
    "call.completed": ("call_id", "rep_id", "direction", "outcome", "duration_s"),
    "email.sent": ("email_id", "rep_id"),
    "email.opened": ("email_id",),
    "email.clicked": ("email_id",),
    "email.replied": ("email_id",),
    "deal.created": ("deal_id", "rep_id", "amount"),
    "deal.won": ("deal_id", "rep_id", "amount"),
    "deal.lost": ("deal_id", "rep_id"),
    "target.set": ("period", "metric", "value"),
}
NUMBER_FIELDS: Final = frozenset({"amount", "duration_s", "value"})
ID_LIMITS: Final = {"event_id": 128, "team_id": 64, "rep_id": 64}

LATE_DAYS: Final = (60.0, 90.0)
MAX_SHIFT: Final = 500
MAX_DUPLICATE_SHIFT: Final = 50

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)


# --- raw values: topics, keys, JSONL ---------------------------------------------------------------


def _parsed(value: bytes) -> EventDict | None:
    try:
        obj = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def topic_for_value(value: bytes) -> str:
    """The short input topic a message value belongs on, so malformed messages land somewhere stable."""
    obj = _parsed(value)
    kind = obj.get("type") if obj is not None else None
    if isinstance(kind, str) and kind in TOPIC_OF_TYPE:
        return TOPIC_OF_TYPE[kind]
    return INPUT_TOPICS[zlib.crc32(value) % len(INPUT_TOPICS)]


def key_for_value(value: bytes, mode: str = "spec", rng: random.Random | None = None) -> bytes | None:
    """The Kafka key for a value: SPEC §1's recommendation, a random key, or none (results must not care)."""
    if mode == "none":
        return None
    if mode == "random":
        bits = rng.getrandbits(64) if rng is not None else random.getrandbits(64)  # noqa: S311 - not security
        return f"{bits:016x}".encode()
    if mode != "spec":
        raise ValueError(f"key mode must be one of {KEY_MODES}, got {mode!r}")
    obj = _parsed(value)
    key = spec_key(obj) if obj is not None else None
    return key.encode() if key is not None else None


def key_for_topic(value: bytes, topic: str, mode: str, rng: random.Random | None = None) -> bytes | None:
    """Like `key_for_value`, but never None on a compacted topic: Kafka refuses unkeyed records there."""
    key = key_for_value(value, mode, rng)
    if key is None and topic in COMPACTED:
        key = hashlib.sha256(value).hexdigest()[:32].encode()
    return key


def write_jsonl(values: Iterable[bytes], path: str | Path) -> int:
    """Store raw message values one per line, so a run can be replayed byte for byte; returns the count."""
    count = 0
    with open(path, "wb") as out:
        for value in values:
            if b"\n" in value:
                raise ValueError(f"message value {count} contains a newline and cannot be stored as JSONL")
            out.write(value)
            out.write(b"\n")
            count += 1
    return count


def read_jsonl(path: str | Path) -> Iterator[bytes]:
    """Replay raw message values written by `write_jsonl`, unchanged (malformed ones included)."""
    with open(path, "rb") as src:
        for line in src:
            yield line[:-1] if line.endswith(b"\n") else line


# --- distortion --------------------------------------------------------------------------------------


def _uuid(rng: random.Random) -> str:
    bits = (rng.getrandbits(128) & ~(0xF << 76) & ~(0x3 << 62)) | (0x4 << 76) | (0x2 << 62)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _shift_time(stamp: str, delta: timedelta) -> str:
    moved = datetime.fromisoformat(stamp).astimezone(timezone.utc) - delta
    return moved.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _copy(event: EventDict, rng: random.Random, **changes: Any) -> EventDict:
    """A copy of an event with a fresh event_id, so a rejected variant can never shadow the original."""
    out = dict(event)
    out["event_id"] = _uuid(rng)
    out.update(changes)
    return out


def _of_type(kind: str, base: EventDict, rng: random.Random, currency: str) -> EventDict:
    """A valid event of `kind` on the base event's team, rep and time, to be broken in one place."""
    event: EventDict = {
        "event_id": _uuid(rng), "type": kind, "occurred_at": base["occurred_at"],
        "team_id": base["team_id"], "rep_id": base.get("rep_id") or "rep-sim-01",
    }
    if kind.startswith("deal."):
        event.update(deal_id=f"deal-x{rng.getrandbits(32):08x}", amount=1250.0, currency=currency)
    elif kind == "call.completed":
        event.update(call_id=f"call-x{rng.getrandbits(32):08x}", direction="outbound",
                     outcome="connected", duration_s=95)
    elif kind == "target.set":
        event.update(period=str(base["occurred_at"])[:7], metric="won_amount", value=100000.0)
    return event


def _dumps_with(event: EventDict, field: str, raw: bytes) -> bytes:
    """Serialize with one field's value replaced by raw JSON-ish text (NaN, Infinity, 1e999...)."""
    marker = f"@@{field}@@"
    return orjson.dumps({**event, field: marker}).replace(f'"{marker}"'.encode(), raw)


def _m_not_json(rng: random.Random, event: EventDict, currency: str) -> bytes:
    whole = orjson.dumps(event)
    return rng.choice([
        whole[: rng.randrange(1, len(whole))],
        b"", b"hello sales floor", b"{'event_id': 'x', 'type': 'lead.created'}",
        whole.replace(b'":', b'"=', 1), whole + b"}", b"{" + whole,
    ])


def _m_random_bytes(rng: random.Random, event: EventDict, currency: str) -> bytes:
    body = bytes(b for b in rng.randbytes(rng.randrange(1, 200)) if b != 0x0A)
    return b"\xff" + body  # 0xff never occurs in UTF-8, so this is never valid JSON


def _m_not_object(rng: random.Random, event: EventDict, currency: str) -> bytes:
    return rng.choice([orjson.dumps([event]), b"42", b"-1.5", b'"lead.created"', b"null", b"true", b"[]"])


def _m_missing_field(rng: random.Random, event: EventDict, currency: str) -> bytes:
    out = _copy(event, rng)
    del out[rng.choice(COMMON_REQUIRED + REQUIRED[event["type"]])]
    return orjson.dumps(out)


def _m_wrong_type(rng: random.Random, event: EventDict, currency: str) -> bytes:
    name = rng.choice(COMMON_REQUIRED + REQUIRED[event["type"]])
    if name in NUMBER_FIELDS:
        bad: Any = rng.choice(["1200", True, [1], {"value": 1}, "12.5"])
    else:
        bad = rng.choice([42, 4.5, True, ["x"], {"id": "x"}])
    return orjson.dumps(_copy(event, rng, **{name: bad}))


def _m_unknown_type(rng: random.Random, event: EventDict, currency: str) -> bytes:
    kind = rng.choice(["lead.deleted", "call.started", "Lead.Created", "deal.won ", "", "email.bounced", "*"])
    return orjson.dumps(_copy(event, rng, type=kind))


def _m_timestamp(rng: random.Random, event: EventDict, currency: str) -> bytes:
    stamp = str(event["occurred_at"])
    bad = rng.choice([
        stamp.rstrip("Z"), stamp[:19], stamp[:10] + " " + stamp[11:23], stamp[:10], "yesterday",
        "1700000000", stamp[:11] + "25" + stamp[13:], stamp[:5] + "02-30" + stamp[10:], "",
    ])
    return orjson.dumps(_copy(event, rng, occurred_at=bad))


def _m_amount(rng: random.Random, event: EventDict, currency: str) -> bytes:
    deal = _of_type(rng.choice(["deal.created", "deal.won", "deal.lost"]), event, rng, currency)
    raw = rng.choice([b"-0.01", b"-5000", b"1000000000000.0", b"1e15", b"1e308", b"NaN", b"Infinity",
                      b"-Infinity", b"1e999", b'"NaN"', b'"Infinity"', b'"5000.00"', b'"-"'])
    return _dumps_with(deal, "amount", raw)


def _m_id_underscore(rng: random.Random, event: EventDict, currency: str) -> bytes:
    names = [k for k, v in event.items() if k.endswith("_id") and isinstance(v, str)]
    name = rng.choice(names)
    return orjson.dumps(_copy(event, rng, **{name: rng.choice(["_all", "_unassigned", "_" + event[name]])}))


def _m_id_control(rng: random.Random, event: EventDict, currency: str) -> bytes:
    names = [k for k, v in event.items() if k.endswith("_id") and isinstance(v, str)]
    name = rng.choice(names)
    value = (str(event[name]) if name != "event_id" else _uuid(rng))[: ID_LIMITS.get(name, 128) - 1]
    at = rng.randrange(len(value) + 1)
    bad = value[:at] + rng.choice(["\x00", "\x07", "\x1b", "\t", "\n", "\r", "\x7f", "\x85"]) + value[at:]
    return orjson.dumps(_copy(event, rng, **{name: bad}))


def _m_currency(rng: random.Random, event: EventDict, currency: str) -> bytes:
    deal = _of_type(rng.choice(["deal.created", "deal.won", "deal.lost", "target.set"]), event, rng, currency)
    others = [c for c in ("USD", "GBP", "CHF", "JPY", currency.lower(), " " + currency, "") if c != currency]
    return orjson.dumps({**deal, "currency": rng.choice(others)})


def _m_id_length(rng: random.Random, event: EventDict, currency: str) -> bytes:
    name = rng.choice(sorted(ID_LIMITS))
    limit = ID_LIMITS[name]
    bad = rng.choice(["", "x" * (limit + 1), "y" * rng.randrange(limit + 2, 4 * limit)])
    out = _of_type("call.completed", event, rng, currency) if name == "rep_id" else _copy(event, rng)
    out[name] = bad
    return orjson.dumps(out)


def _m_duration(rng: random.Random, event: EventDict, currency: str) -> bytes:
    call = _of_type("call.completed", event, rng, currency)
    bad = rng.choice([b"-1", b"-0.001", b"86400.5", b"86401", b"1e9", b"NaN"])
    return _dumps_with(call, "duration_s", bad)


def _m_bad_value(rng: random.Random, event: EventDict, currency: str) -> bytes:
    name, bad = rng.choice([
        ("direction", "sideways"), ("direction", "Inbound"), ("outcome", "answered"), ("outcome", ""),
        ("metric", "calls"), ("period", "2026-13"), ("period", "2026-1"), ("period", "26-01"),
        ("value", -1.0), ("rep_id", None),
    ])
    kind = "target.set" if name in ("metric", "period", "value") else "call.completed"
    return orjson.dumps({**_of_type(kind, event, rng, currency), name: bad})


MALFORMED_KINDS: Final[dict[str, Callable[[random.Random, EventDict, str], bytes]]] = {
    "not_json": _m_not_json,
    "random_bytes": _m_random_bytes,
    "not_object": _m_not_object,
    "missing_field": _m_missing_field,
    "wrong_type": _m_wrong_type,
    "unknown_type": _m_unknown_type,
    "bad_timestamp": _m_timestamp,
    "bad_amount": _m_amount,
    "id_underscore": _m_id_underscore,
    "id_control_char": _m_id_control,
    "wrong_currency": _m_currency,
    "id_length": _m_id_length,
    "bad_duration": _m_duration,
    "bad_value": _m_bad_value,
}
_KIND_NAMES: Final = tuple(MALFORMED_KINDS)


def malformed_value(rng: random.Random, event: EventDict, kind: str | None = None, *,
                    currency: str = "EUR") -> tuple[bytes, str]:
    """One message SPEC §2 rejects, modelled on a valid event; returns (value, kind)."""
    kind = kind or rng.choice(_KIND_NAMES)
    return MALFORMED_KINDS[kind](rng, event, currency), kind


def _share(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share between 0 and 1, got {value}")
    return value


class Distorter:
    """Stateful arrival-order distortion, usable from sync and async pipelines alike.

    Labels: "ok", "shuffled", "duplicate", "late", "malformed/<kind>".
    """

    def __init__(self, *, seed: int, shuffle: float = 0.0, duplicate: float = 0.0, malformed: float = 0.0,
                 late: float = 0.0, currency: str = "EUR", max_shift: int = MAX_SHIFT) -> None:
        self.rng = random.Random(f"distort:{seed}")  # noqa: S311 - simulation, not security
        self.shuffle = _share("shuffle", shuffle)
        self.duplicate = _share("duplicate", duplicate)
        self.malformed = _share("malformed", malformed)
        self.late = _share("late", late)
        self.currency = currency
        self.max_shift = max(1, max_shift)
        self._held: list[tuple[int, int, bytes, str]] = []
        self._position = 0
        self._seq = 0

    def _hold(self, release: int, value: bytes, label: str) -> None:
        heapq.heappush(self._held, (release, self._seq, value, label))
        self._seq += 1

    def feed(self, event: EventDict) -> list[tuple[bytes, str]]:
        """Messages that arrive when this event is handed to the broker (possibly none, possibly several)."""
        rng, out, held = self.rng, [], self._held
        position = self._position = self._position + 1
        while held and held[0][0] <= position:
            _, _, value, label = heapq.heappop(held)
            out.append((value, label))
        label = "ok"
        if self.late and rng.random() < self.late:
            days = rng.uniform(*LATE_DAYS)
            stamp = _shift_time(str(event["occurred_at"]), timedelta(days=days))
            event = _copy(event, rng, occurred_at=stamp)
            label = "late"
        value = orjson.dumps(event)
        arrival = position
        if self.shuffle and rng.random() < self.shuffle:
            arrival = position + rng.randint(1, self.max_shift)
            self._hold(arrival, value, "shuffled" if label == "ok" else label)
        else:
            out.append((value, label))
        if self.duplicate and rng.random() < self.duplicate:
            self._hold(arrival + rng.randint(1, MAX_DUPLICATE_SHIFT), value, "duplicate")
        if self.malformed and rng.random() < self.malformed:
            bad, kind = malformed_value(rng, event, currency=self.currency)
            out.append((bad, f"malformed/{kind}"))
        return out

    def close(self) -> list[tuple[bytes, str]]:
        """Everything still held back, in its arrival order."""
        out = []
        while self._held:
            _, _, value, label = heapq.heappop(self._held)
            out.append((value, label))
        return out


def distort_labeled(events: Iterable[EventDict], *, seed: int, shuffle: float = 0.0, duplicate: float = 0.0,
                    malformed: float = 0.0, late: float = 0.0,
                    currency: str = "EUR") -> Iterator[tuple[bytes, str]]:
    """`distort` with each value's label, so tests know which messages must be rejected or ignored."""
    distorter = Distorter(seed=seed, shuffle=shuffle, duplicate=duplicate, malformed=malformed, late=late,
                          currency=currency)
    for event in events:
        yield from distorter.feed(event)
    yield from distorter.close()


def distort(events: Iterable[EventDict], *, seed: int, shuffle: float = 0.0, duplicate: float = 0.0,
            malformed: float = 0.0, late: float = 0.0, currency: str = "EUR") -> Iterator[bytes]:
    """Raw message values in arrival order, reordered, duplicated, late and malformed as asked."""
    for value, _ in distort_labeled(events, seed=seed, shuffle=shuffle, duplicate=duplicate,
                                    malformed=malformed, late=late, currency=currency):
        yield value


async def adistort(events: AsyncIterable[EventDict], distorter: Distorter) -> AsyncIterator[bytes]:
    """`distort` for the real-time stream."""
    async for event in events:
        for value, _ in distorter.feed(event):
            yield value
    for value, _ in distorter.close():
        yield value


def epoch_ms(stamp: str) -> int:
    """Milliseconds since the epoch of an RFC 3339 timestamp (for tests and tools)."""
    return (datetime.fromisoformat(stamp) - _EPOCH) // timedelta(milliseconds=1)


# --- Kafka ---------------------------------------------------------------------------------------------


@dataclass
class ProduceStats:
    """Running totals of one `produce` run, for progress lines and the exit code."""

    queued: int = 0
    acked: int = 0
    failed: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    first_error: str | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed(self) -> float:
        return max(time.monotonic() - self.started, 1e-9)

    @property
    def rate(self) -> float:
        """Acknowledged messages per second so far."""
        return self.acked / self.elapsed

    def summary(self) -> str:
        topics = ", ".join(f"{t}={n}" for t, n in sorted(self.by_topic.items()))
        return (f"queued {self.queued}, acked {self.acked}, failed {self.failed} in {self.elapsed:.1f}s "
                f"({self.rate:,.0f} msg/s) [{topics}]")


ProgressCallback = Callable[[ProduceStats], None]
PROGRESS_EVERY_S: Final = 5.0


async def _values(values: Iterable[bytes] | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(values, AsyncIterable):
        async for value in values:
            yield value
    else:
        for value in values:
            yield value


def _default_producer(settings: Settings) -> Any:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped, unused-ignore]

    # Five minutes before a batch is given up: a broker restart must not cost messages.
    return AIOKafkaProducer(**settings.aiokafka_kwargs(), linger_ms=20, acks="all", enable_idempotence=True,
                            max_batch_size=256 * 1024, request_timeout_ms=300_000)


async def produce(values: Iterable[bytes] | AsyncIterable[bytes], *, settings: Settings, keys: str = "spec",
                  rate: float | None = None, progress: ProgressCallback | None = None,
                  producer_factory: Callable[[Settings], Any] = _default_producer) -> ProduceStats:
    """Send raw values to their input topics, batched, optionally paced; returns once all are acked."""
    if keys not in KEY_MODES:
        raise ValueError(f"keys must be one of {KEY_MODES}, got {keys!r}")
    if rate is not None and rate <= 0:
        raise ValueError(f"rate must be positive, got {rate}")
    report = progress or (lambda stats: log.info("produce: %s", stats.summary()))
    stats = ProduceStats()
    pending: set[asyncio.Future[Any]] = set()
    key_rng = random.Random()  # noqa: S311 - message keys, not secrets

    def settled(future: asyncio.Future[Any]) -> None:
        pending.discard(future)
        error = future.exception() if not future.cancelled() else asyncio.CancelledError()
        if error is None:
            stats.acked += 1
        else:
            stats.failed += 1
            stats.first_error = stats.first_error or f"{type(error).__name__}: {error}"

    loop = asyncio.get_running_loop()
    interval = 1.0 / rate if rate else 0.0
    due = loop.time()
    next_report = loop.time() + PROGRESS_EVERY_S
    producer = producer_factory(settings)
    try:
        await producer.start()
        async for value in _values(values):
            now = loop.time()
            if interval:
                if due > now:
                    await asyncio.sleep(due - now)
                due = max(due, now - 0.1) + interval  # a stall may catch up for at most 0.1 s
            short = topic_for_value(value)
            topic = settings.topic_prefix + short
            future = await producer.send(topic, value, key=key_for_topic(value, short, keys, key_rng))
            stats.queued += 1
            stats.by_topic[topic] = stats.by_topic.get(topic, 0) + 1
            pending.add(future)
            future.add_done_callback(settled)
            if now >= next_report:
                report(stats)
                next_report = now + PROGRESS_EVERY_S
        if pending:
            await asyncio.wait(set(pending))  # producer.flush() was seen returning early
    finally:
        await producer.stop()
    report(stats)
    return stats

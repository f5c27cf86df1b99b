"""Delivery as it really happens: reordered, duplicated, late and malformed messages, and the raw-value
helpers (JSONL files, topic and key of a message value) shared by the simulator, the producer and tests."""

from __future__ import annotations

import hashlib
import heapq
import random
import zlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Final, Literal

import orjson

# EventDict, MALFORMED_KINDS and malformed_value are re-exported: callers take them from here with the distortions.
from streams.sim.malformed import MALFORMED_KINDS as MALFORMED_KINDS
from streams.sim.malformed import EventDict as EventDict
from streams.sim.malformed import copy_event
from streams.sim.malformed import malformed_value as malformed_value
from streams.topics import COMPACTED, INPUT_TOPICS, TOPIC_OF_TYPE, spec_key

KeyMode = Literal["spec", "random", "none"]
KEY_MODES: Final = ("spec", "random", "none")

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
        bits = rng.getrandbits(64) if rng is not None else random.getrandbits(64)  # not security
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


def _shift_time(stamp: str, delta: timedelta) -> str:
    moved = datetime.fromisoformat(stamp).astimezone(timezone.utc) - delta
    return moved.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _share(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a share between 0 and 1, got {value}")
    return value


class Distorter:
    """Stateful arrival-order distortion, usable from sync and async pipelines alike.

    Labels: "ok", "shuffled", "duplicate", "late", "malformed/<kind>".
    """

    def __init__(
        self,
        *,
        seed: int,
        shuffle: float = 0.0,
        duplicate: float = 0.0,
        malformed: float = 0.0,
        late: float = 0.0,
        currency: str = "EUR",
        max_shift: int = MAX_SHIFT,
    ) -> None:
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
            event = copy_event(event, rng, occurred_at=stamp)
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


def distort_labeled(
    events: Iterable[EventDict],
    *,
    seed: int,
    shuffle: float = 0.0,
    duplicate: float = 0.0,
    malformed: float = 0.0,
    late: float = 0.0,
    currency: str = "EUR",
) -> Iterator[tuple[bytes, str]]:
    """`distort` with each value's label, so tests know which messages must be rejected or ignored."""
    distorter = Distorter(
        seed=seed, shuffle=shuffle, duplicate=duplicate, malformed=malformed, late=late, currency=currency
    )
    for event in events:
        yield from distorter.feed(event)
    yield from distorter.close()


def distort(
    events: Iterable[EventDict],
    *,
    seed: int,
    shuffle: float = 0.0,
    duplicate: float = 0.0,
    malformed: float = 0.0,
    late: float = 0.0,
    currency: str = "EUR",
) -> Iterator[bytes]:
    """Raw message values in arrival order, reordered, duplicated, late and malformed as asked."""
    for value, _ in distort_labeled(
        events, seed=seed, shuffle=shuffle, duplicate=duplicate, malformed=malformed, late=late, currency=currency
    ):
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

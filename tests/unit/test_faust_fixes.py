"""Faust's producer buffer: flush() returns only once every buffered message is handed to the client."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.transport.producer import ProducerBuffer

from streams.kafka import faust_fixes


class SlowChannel:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.published: list[Any] = []

    async def publish_message(self, fut: Any, wait: bool = False) -> None:
        await asyncio.sleep(self.delay)  # a broker connection being set up, a full batch...
        self.published.append(fut)


async def flushed_count(delay: float, messages: int) -> tuple[int, int]:
    buffer = ProducerBuffer()
    buffer.app = SimpleNamespace(conf=SimpleNamespace(producer_threaded=False))  # type: ignore[assignment]
    channel = SlowChannel(delay)
    await buffer.start()
    try:
        for n in range(messages):
            buffer.put(SimpleNamespace(message=SimpleNamespace(channel=channel), n=n))  # type: ignore[arg-type]
        await asyncio.sleep(0)  # the background task takes the first message off the queue
        await buffer.flush()
        return len(channel.published), messages
    finally:
        await buffer.stop()


async def test_flush_waits_for_the_message_in_flight_and_for_slow_sends() -> None:
    faust_fixes.install()
    assert await flushed_count(delay=0.25, messages=3) == (3, 3)
    assert await flushed_count(delay=0.0, messages=50) == (50, 50)


async def test_a_commit_is_skipped_when_the_state_was_not_written(monkeypatch: Any) -> None:
    committed: list[Any] = []

    async def original(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
        committed.append(offsets)
        return True

    monkeypatch.setattr(faust_fixes, "_original_commit_offsets", original)
    written = [False]

    async def before_commit() -> bool:
        return written[0]

    class App:  # any object Faust's consumer names as its app
        pass

    app = App()
    faust_fixes.set_hooks(app, faust_fixes.Hooks(before_commit=before_commit, sought=lambda offsets: None))
    consumer = SimpleNamespace(app=app)
    assert await faust_fixes._commit_offsets(consumer, {"tp": 5}) is False
    assert committed == []
    written[0] = True
    assert await faust_fixes._commit_offsets(consumer, {"tp": 6}) is True
    assert committed == [{"tp": 6}]


async def test_a_partition_without_a_committed_offset_is_sought_to_its_start_and_the_agents_expect_it(
    monkeypatch: Any,
) -> None:
    """A taken-over partition its dead owner never committed: read from its log start, and its first message
    must have that offset, so a message Faust skips before it is noticed and read back (gaps.py)."""
    from faust.types import TP

    committed, fresh, changelog = TP("x-entities", 0), TP("x-entities", 1), TP("x-entities-changelog", 1)

    async def original(self: Any) -> None:  # Faust's seek: read offsets from the committed ones
        self._read_offset.update({committed: 41, fresh: None, changelog: None})

    sought_to_start: list[Any] = []

    async def seek_to_beginning(*partitions: Any) -> None:
        sought_to_start.extend(partitions)

    async def earliest_offsets(*partitions: Any) -> dict[Any, int]:
        return {tp: 7 for tp in partitions}  # a log start past 0: retention deleted the oldest messages

    monkeypatch.setattr(faust_fixes, "_original_perform_seek", original)

    class App:
        pass

    app, heard = App(), []
    faust_fixes.set_hooks(app, faust_fixes.Hooks(before_commit=lambda: None, sought=heard.append))  # type: ignore[arg-type]
    consumer = SimpleNamespace(
        app=app,
        _read_offset={},
        assignment=lambda: {committed, fresh, changelog},
        _is_changelog_tp=lambda tp: tp.topic.endswith("-changelog"),
        _thread=SimpleNamespace(seek_to_beginning=seek_to_beginning, earliest_offsets=earliest_offsets),
    )
    await faust_fixes._perform_seek(consumer)
    assert [(tp.topic, tp.partition) for tp in sought_to_start] == [("x-entities", 1)]
    assert heard == [{committed: 41, fresh: 7, changelog: None}]
    assert consumer._read_offset[fresh] is None  # Faust's own read offset untouched: it delivers from the start

"""Small fixes to Faust's producer buffer and its seek after a rebalance, applied once when the app is built.

faust-streaming 0.15.3's `ProducerBuffer.flush()` returns while a message taken off its queue is still
being handed to the Kafka client, and gives up after 0.1 s without progress. The consumer flushes
the producer right before committing offsets, so a commit could cover an event whose table
changelog record or routed message was not yet sent; a crash at that moment lost it (seen in the
scale-out test as one missing call). The fixed flush waits until the queue is empty and nothing is
in flight; the Kafka client's own flush then waits for the broker's acknowledgement.

It also gives an app two hooks (`set_hooks`): one that runs before every offset commit, where the
worker writes its buffered table state (see `buffered.py`); when it returns False (a rebalance is under
way) the commit is skipped, as Faust skips one for revoked partitions. And one that Faust calls after
seeking its partitions back to their committed offsets, with where they are, so the agents notice a
message Faust skipped (see `gaps.py`). Before that hook, a stream partition with no committed offset
is sought to its start (`_perform_seek`).

And the two offset queries of Faust's table recovery (the changelogs' end and start offsets) go over a
connection of their own (`Hooks.consumer_kwargs`; `read_to_end.list_offsets`): on the worker consumer's
connection they waited behind its fetch, which the broker holds up to the 1,500 ms Faust hard-codes while
there is nothing to read, about 2.3 s of every restart. Faust's fetching itself is left as it is. The
table manager starts without the 1 s sleep Faust puts before it (for tables that agents would define as
they start; ours exist before the app starts).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import TopicPartition
from faust.tables.manager import TableManager
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer

from streams.kafka.internals import read_offsets
from streams.kafka.read_to_end import list_offsets


@dataclass(frozen=True)
class Hooks:
    before_commit: Callable[[], Awaitable[bool]]
    sought: Callable[[Mapping[Any, int | None]], None]
    consumer_kwargs: dict[str, Any] | None = None  # for the recovery's offset queries (None: Faust's consumer)


_HOOKS: weakref.WeakKeyDictionary[Any, Hooks] = weakref.WeakKeyDictionary()


def set_hooks(app: Any, hooks: Hooks) -> None:
    """Install the worker's hooks for one Faust app."""
    _HOOKS[app] = hooks


_original_send_pending = ProducerBuffer._send_pending  # noqa: SLF001 - the method the patch wraps
_original_commit_offsets = Consumer._commit_offsets  # noqa: SLF001 - the method the patch wraps
_original_perform_seek = Consumer.perform_seek
_original_highwaters = AIOKafkaConsumerThread.highwaters
_original_table_manager_on_start = TableManager.on_start
_original_earliest_offsets = AIOKafkaConsumerThread.earliest_offsets


async def _send_pending(self: Any, fut: Any) -> None:
    self._salesfloor_in_flight = getattr(self, "_salesfloor_in_flight", 0) + 1
    try:
        await _original_send_pending(self, fut)
    finally:
        self._salesfloor_in_flight -= 1


async def _flush(self: Any) -> None:
    while self.size or getattr(self, "_salesfloor_in_flight", 0):
        if self.state != "running" and self.size:
            raise RuntimeError("Cannot flush: Producer not Running")
        self.message_sent.clear()
        try:
            await asyncio.wait_for(self.message_sent.wait(), timeout=0.1)
        except asyncio.TimeoutError:
            continue  # still sending: a slow broker is no reason to commit unsent records


async def _commit_offsets(self: Any, offsets: Any, start_new_transaction: bool = True) -> bool:
    """Runs the app's `before_commit` hook (state written to changelogs once per commit) first."""
    hooks = _HOOKS.get(self.app)
    if hooks is not None and await hooks.before_commit() is False:
        return False
    return await _original_commit_offsets(self, offsets, start_new_transaction)


async def _perform_seek(self: Any) -> None:
    """Seeks the stream partitions that have no committed offset to their start, then tells the app's
    `sought` hook where each partition was sought to (see `gaps.py`).

    Faust drops what it fetched during a rebalance for partitions not yet active, and counts on this
    seek back to the committed offsets to read it again. aiokafka's `seek_to_committed` leaves a
    partition with no committed offset where it is, though: the partitions of a worker that died
    before its first commit lost every message the new owner's consumer had fetched meanwhile (the
    takeover test in tests/integration/test_crash.py).

    The hook hears a partition sought to its start as sought to its log start offset: the first message
    its agent gets must have that offset. Told nothing about it (as before), the agent took whatever came
    first: a worker that took over a partition its killed owner never committed applied it from offset 1,
    and the calls of offset 0 were missing from the KPIs for good (test_achievements, one run in eight)."""
    await _original_perform_seek(self)
    read = read_offsets(self)
    unread = [tp for tp in self.assignment() if not self._is_changelog_tp(tp) and read.get(tp) is None]
    if unread:
        await self._thread.seek_to_beginning(*(TopicPartition(tp.topic, tp.partition) for tp in unread))
    hooks = _HOOKS.get(self.app)
    if hooks is not None:  # Faust's read offsets stay as they are (None for the partitions sought to their start)
        # the log starts, on the app's own connection when it has one (`_earliest_offsets` below)
        starts = dict(await self._thread.earliest_offsets(*unread)) if unread else {}
        hooks.sought({**read, **starts})


def _own_connection(thread: Any) -> dict[str, Any] | None:
    hooks = _HOOKS.get(thread.consumer.app)
    if hooks is None or thread.consumer.in_transaction:
        return None
    return hooks.consumer_kwargs


def _offsets_on_own_connection(
    original: Callable[..., Awaitable[Mapping[Any, int]]], which: Literal["beginning", "end"]
) -> Callable[..., Awaitable[Mapping[Any, int]]]:
    """`AIOKafkaConsumerThread.highwaters` (end) or `.earliest_offsets` (beginning), asked on a connection of
    their own when the app has one configured."""

    async def offsets(self: Any, *partitions: Any) -> Mapping[Any, int]:
        kwargs = _own_connection(self)
        if kwargs is None:
            return await original(self, *partitions)
        return await list_offsets(kwargs, partitions, which)

    return offsets


_highwaters = _offsets_on_own_connection(_original_highwaters, "end")
_earliest_offsets = _offsets_on_own_connection(_original_earliest_offsets, "beginning")


async def _table_manager_on_start(self: Any) -> None:
    """`TableManager.on_start` without its first line, `await self.sleep(1.0)`."""
    if not self.should_stop:
        await self._update_channels()
        await self.recovery.start()


def install() -> None:
    """Idempotent: patch `ProducerBuffer` so that `flush()` means flushed.

    Also lets the buffer hold 1,000 messages instead of 100 before the stream waits for it: a batch of
    table updates is bigger than 100, and each overflow logged a warning and flushed synchronously."""
    ProducerBuffer.max_messages = 1000
    if ProducerBuffer.flush is not _flush:
        ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]  # noqa: SLF001 - the patch
        ProducerBuffer.flush = _flush  # type: ignore[method-assign]
        Consumer._commit_offsets = _commit_offsets  # type: ignore[method-assign]  # noqa: SLF001 - the patch
        Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]
        AIOKafkaConsumerThread.highwaters = _highwaters  # type: ignore[method-assign,assignment]
        AIOKafkaConsumerThread.earliest_offsets = _earliest_offsets  # type: ignore[method-assign,assignment]
        TableManager.on_start = _table_manager_on_start  # type: ignore[method-assign]

"""A small fix to how Faust's producer buffer flushes, applied once when the app is built.

faust-streaming 0.15.3's `ProducerBuffer.flush()` returns while a message taken off its queue is still
being handed to the Kafka client, and gives up after 0.1 s without progress. The consumer flushes
the producer right before committing offsets, so a commit could cover an event whose table
changelog record or routed message was not yet sent; a crash at that moment lost it (seen in the
scale-out test as one missing call). The fixed flush waits until the queue is empty and nothing is
in flight; the Kafka client's own flush then waits for the broker's acknowledgement.

It also gives the app a hook that runs before every offset commit (`app.salesfloor_before_commit`):
the worker writes its buffered table state there (see `agents/state.py`); when the hook returns False
(a rebalance is under way) the commit is skipped, as Faust skips one for revoked partitions. And after
Faust seeks its partitions back to their committed offsets, it tells the app where they are
(`app.salesfloor_sought`), so the agents notice a message Faust skipped (see `agents/gaps.py`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.consumer import Consumer
from faust.transport.producer import ProducerBuffer

_original_send_pending = ProducerBuffer._send_pending
_original_commit_offsets = Consumer._commit_offsets
_original_perform_seek = Consumer.perform_seek


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
    """Runs the app's `salesfloor_before_commit` (state written to changelogs once per commit) first."""
    before_commit = getattr(self.app, "salesfloor_before_commit", None)
    if before_commit is not None and await before_commit() is False:
        return False
    return await _original_commit_offsets(self, offsets, start_new_transaction)


async def _perform_seek(self: Any) -> None:
    """Tells the app's `salesfloor_sought` where each partition was sought to (see `agents/gaps.py`)."""
    await _original_perform_seek(self)
    sought = getattr(self.app, "salesfloor_sought", None)
    if sought is not None:
        sought(dict(self._read_offset))


def install() -> None:
    """Idempotent: patch `ProducerBuffer` so that `flush()` means flushed.

    Also lets the buffer hold 1,000 messages instead of 100 before the stream waits for it: a batch of
    table updates is bigger than 100, and each overflow logged a warning and flushed synchronously."""
    ProducerBuffer.max_messages = 1000
    if ProducerBuffer.flush is not _flush:
        ProducerBuffer._send_pending = _send_pending  # type: ignore[method-assign]
        ProducerBuffer.flush = _flush  # type: ignore[method-assign]
        Consumer._commit_offsets = _commit_offsets  # type: ignore[method-assign]
        Consumer.perform_seek = _perform_seek  # type: ignore[method-assign]

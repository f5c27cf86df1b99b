"""A worker table as salesfloor uses Faust's: in memory, restored in bulk (store.py), written to its
changelog once per key and commit (buffered.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust

from streams.kafka.buffered import BufferedTable
from streams.kafka.store import BulkRestoredStore


def buffered_table(
    app: faust.App,
    name: str,
    *,
    partitions: int,
    partition_of: Callable[[str], int],
    decode: Callable[[bytes], Any],
    encode: Callable[[Any], bytes],
    consumer_kwargs: dict[str, Any],
    on_restored: Callable[[int, str, Any], None] | None = None,
    on_dropped: Callable[[set[int]], None] | None = None,
    **table_options: Any,
) -> BufferedTable:
    table = app.Table(name, partitions=partitions, key_type=str, **table_options)
    # A table writes the partitions its store holds: those assigned at the last rebalance. Not the
    # assignor's view, which can move on while a commit (and its flush) for the old one runs.
    store = BulkRestoredStore.attach(
        table,
        partition_of=partition_of,
        decode_value=decode,
        consumer_kwargs=consumer_kwargs,
        dirty=lambda: buffered.dirty,
        on_restored=on_restored,
        on_dropped=on_dropped,
    )
    buffered = BufferedTable(table, encode=encode, owned=lambda: set(store.restored), written=store.written)
    return buffered

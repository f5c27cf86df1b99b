"""Where each key lives: an entity in the entity-topic partition of its key, a team/rep's aggregates
in the aggregate-topic partition of theirs. No table key is ever updated from two partitions."""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable

from aiokafka.partitioner import murmur2

SEP = "\x1f"  # ids never contain control characters, so this separator cannot be forged


def entity_partition(key: str, partitions: int) -> int:
    """The entity topic partition of an entity (CRC-32 in C: murmur2 in pure Python cost 2 % of CPU)."""
    return zlib.crc32(key.encode()) % partitions


@functools.lru_cache(maxsize=1 << 16)
def aggregate_partition(team: str, rep: str, partitions: int) -> int:
    """The aggregate partition of a team/rep key, as the producer's default partitioner picks it
    (cached: murmur2 is pure Python, and every shipped bucket needs it)."""
    hashed: int = murmur2(f"{team}{SEP}{rep}".encode())
    return (hashed & 0x7FFFFFFF) % partitions


def aggregate_key_partition(partitions: int) -> Callable[[str], int]:
    """The aggregate partition of an aggregates-table key (`team SEP rep SEP bucket`)."""

    def partition_of(key: str) -> int:
        team, rep, _bucket = key.split(SEP)
        return aggregate_partition(team, rep, partitions)

    return partition_of

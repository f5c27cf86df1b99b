"""The most a Python consumer can do here: aiokafka in a consumer group, every value decoded with orjson,
nothing else. Reads the input topics of a prefix until `count` records; prints one JSON line.

    python benchmarks/bare_consumer.py BOOTSTRAP PREFIX COUNT
"""

from __future__ import annotations

import asyncio
import json
import resource
import sys
import time
import uuid

import orjson
from aiokafka import AIOKafkaConsumer

from streams.topics import INPUT_TOPICS  # plain constants: imports neither Faust nor the engine


async def main(bootstrap: str, prefix: str, count: int) -> dict[str, float]:
    consumer = AIOKafkaConsumer(
        *(prefix + t for t in INPUT_TOPICS),
        bootstrap_servers=bootstrap,
        group_id=f"bench-bare-{uuid.uuid4().hex}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    started = time.monotonic()
    await consumer.start()
    seen = decoded = 0
    first = None
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            for records in batches.values():
                if first is None:
                    first = time.monotonic()
                for record in records:
                    value = orjson.loads(record.value)
                    decoded += isinstance(value, dict)
                seen += len(records)
        done = time.monotonic()
    finally:
        await consumer.stop()
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return {
        "records": seen,
        "decoded": decoded,
        "start_s": started,
        "first_s": first or done,
        "done_s": done,
        "cpu_s": sum(u.ru_utime + u.ru_stime for u in usage),
    }


if __name__ == "__main__":
    result = asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    print(json.dumps(result), flush=True)

"""The most Faust can do here: the worker's own app (streams.app.create_app, same settings) with one agent
over the same input topics that only counts. GET /count → {"count", "first", "last"} (time.monotonic()).

    SALESFLOOR_KAFKA_BOOTSTRAP=... SALESFLOOR_TOPIC_PREFIX=... SALESFLOOR_APP_ID=... \
        python benchmarks/count_worker.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import faust

from streams.app import create_app
from streams.settings import load_settings
from streams.topics import INPUT_TOPICS, topic_name

settings = load_settings()
settings.data_dir.mkdir(parents=True, exist_ok=True)
app = create_app(settings)
topic = app.topic(
    *(topic_name(settings.topic_prefix, t) for t in INPUT_TOPICS),
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.partitions,
)
state: dict[str, Any] = {"count": 0, "first": None, "last": None}


@app.agent(topic, name="count")
async def count(stream: faust.StreamT[bytes]) -> None:
    async for _event in stream.events():
        now = time.monotonic()
        if state["first"] is None:
            state["first"] = now
        state["count"] += 1
        state["last"] = now


@app.page("/count")
async def count_page(web: Any, request: Any) -> Any:
    return web.json(state)


if __name__ == "__main__":
    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()

"""Every reach into a private attribute of Faust, aiokafka or prometheus_client, in one place.

Each names what it works around; `tests/unit/test_kafka_internals.py` fails when an upgrade of the
pinned versions (faust-streaming 0.15.3, aiokafka 0.14.0, prometheus-client 0.26.0) moves one.
The patches to Faust's own behaviour are in `faust_fixes.py` beside this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer
from faust.types import TP
from prometheus_client.registry import Collector, CollectorRegistry


def aiokafka_producer(app: Any) -> Any:
    """The app's aiokafka producer: batches are sent through it (Faust's producer has no batch API)."""
    return app.producer._ensure_producer()  # noqa: SLF001


def install_store(table: Any, store: Any) -> None:
    """Give a Faust table our store: Faust creates its store lazily through this attribute."""
    table._data = store  # noqa: SLF001


def read_offset(consumer: Any, tp: TP) -> int | None:
    """Faust's consumer's last read offset of a partition: it exposes no public read position."""
    offset: int | None = consumer._read_offset.get(tp)  # noqa: SLF001
    return offset


def read_offsets(consumer: Any) -> dict[Any, int | None]:
    return dict(consumer._read_offset)  # noqa: SLF001


def counted_gap(consumer: Any, tp: TP) -> Any:
    """The offsets of a partition that Faust's consumer counts as acknowledged at its next commit without
    an ack (an IntervalTree; None when there are none): those it saw skipped between two messages."""
    return consumer._gap.get(tp)  # noqa: SLF001


def partition_url(app: Any, tp: TP) -> str | None:
    """The web URL of the worker assigned a partition, from Faust's table-routing map."""
    url = app.assignor._tps_url.get(tp)  # noqa: SLF001
    return str(url) if url else None


def assignment_positions(consumer: AIOKafkaConsumer) -> dict[Any, tuple[int | None, int | None]]:
    """Highwater and position of each assigned partition, without a broker round trip (aiokafka keeps
    them in its subscription state only). Empty while rebalancing."""
    try:
        assignment = consumer._subscription.subscription.assignment  # noqa: SLF001
        out: dict[Any, tuple[int | None, int | None]] = {}
        for tp in assignment.tps:
            state = assignment.state_value(tp)
            out[tp] = (state.highwater, state.position if state.has_valid_position else None)
    except AttributeError:  # no subscription or assignment yet
        return {}
    return out


async def refresh_metadata(consumer: AIOKafkaConsumer) -> None:
    """Ask for metadata now (a topic just created is otherwise unknown until the next refresh)."""
    await consumer._client.force_metadata_update()  # noqa: SLF001


def collectors(registry: CollectorRegistry) -> Iterator[Collector]:
    """The collectors of a registry: it lists them nowhere public."""
    yield from list(registry._collector_to_names)  # noqa: SLF001


def aiohttp_app(app: Any) -> Any:
    """The aiohttp Application behind Faust's web driver (for its shutdown signal)."""
    return app.web.web_app

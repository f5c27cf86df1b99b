"""Every private attribute of Faust, aiokafka and prometheus_client that streams/kafka/internals.py and
faust_fixes.py use still exists in the installed versions: an upgrade that moves one fails here, not
in production."""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.consumer.subscription_state import Assignment, TopicPartitionState
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.producer import ProducerBuffer
from faust.types import TP
from prometheus_client import CollectorRegistry

from streams.app import create_app
from streams.kafka import faust_fixes, internals
from streams.settings import load_settings


@pytest.fixture
def app() -> Iterator[object]:
    settings = load_settings(kafka_bootstrap="127.0.0.1:1", topic_prefix="internals.")
    yield create_app(settings)


def test_faust_private_attributes(app: object) -> None:
    assert callable(app.producer._ensure_producer)  # type: ignore[attr-defined]
    assert isinstance(app.consumer._read_offset, dict)  # type: ignore[attr-defined]
    assert isinstance(app.assignor._tps_url, dict)  # type: ignore[attr-defined]
    table = app.Table("internals", partitions=1)  # type: ignore[attr-defined]
    assert hasattr(table, "_data")
    assert internals.aiohttp_app(app).on_shutdown is not None
    assert internals.read_offsets(app.consumer) == {}  # type: ignore[attr-defined]
    assert internals.counted_gap(app.consumer, TP("internals", 0)) is None  # type: ignore[attr-defined]


def test_faust_methods_the_fixes_wrap() -> None:
    for owner, name in (
        (ProducerBuffer, "_send_pending"),
        (ProducerBuffer, "flush"),
        (Consumer, "_commit_offsets"),
        (Consumer, "perform_seek"),
        (AIOKafkaConsumerThread, "highwaters"),
        (AIOKafkaConsumerThread, "earliest_offsets"),
    ):
        assert inspect.iscoroutinefunction(getattr(owner, name)), f"{owner.__name__}.{name}"
    for original in (
        faust_fixes._original_send_pending,
        faust_fixes._original_commit_offsets,
        faust_fixes._original_perform_seek,
        faust_fixes._original_highwaters,
        faust_fixes._original_earliest_offsets,
        faust_fixes._original_table_manager_on_start,
    ):
        assert original.__module__.startswith("faust."), original  # Faust's own, kept before patching
    assert "_read_offset" in inspect.getsource(faust_fixes._original_perform_seek)
    assert "message_sent" in inspect.getsource(ProducerBuffer)  # the event the fixed flush waits on
    assert "self.consumer.in_transaction" in inspect.getsource(AIOKafkaConsumerThread)  # read by the offset fix
    on_start = inspect.getsource(faust_fixes._original_table_manager_on_start)  # what the fix does without the sleep
    assert [line.strip() for line in on_start.splitlines()[2:]] == [
        "await self.sleep(1.0)",
        "if not self.should_stop:",
        "await self._update_channels()",
        "await self.recovery.start()",
    ]


async def test_aiokafka_private_attributes() -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers="127.0.0.1:1")
    try:
        assert hasattr(consumer._subscription, "subscription")
        assert callable(consumer._client.force_metadata_update)
        assert internals.assignment_positions(consumer) == {}  # not subscribed: nothing, no error
    finally:
        await consumer.stop()
    assert callable(Assignment.state_value) and "tps" in dir(Assignment)
    source = inspect.getsource(TopicPartitionState)
    assert "highwater" in source and "has_valid_position" in source and "position" in source


def test_prometheus_registry_lists_collectors() -> None:
    registry = CollectorRegistry()
    assert list(internals.collectors(registry)) == []
    assert isinstance(registry._collector_to_names, dict)

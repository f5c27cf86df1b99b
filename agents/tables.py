"""The worker's two state tables as Faust tables: which partition each key lives in and how values are
stored, kept out of the composition root (agents/pipeline.py) so it only wires stages to them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson

from agents.aggregates.view import AggregateView
from agents.entities.stage import entity_key_partition
from agents.routing import aggregate_key_partition
from streams.kafka.buffered import BufferedTable
from streams.kafka.tables import buffered_table
from streams.settings import Settings


def entity_table(app: faust.App, s: Settings) -> BufferedTable:
    """Per-entity state in its entity key's partition, stored as the raw bytes the stage encodes."""
    return buffered_table(
        app,
        "entities",
        partitions=s.partitions,
        partition_of=entity_key_partition,
        decode=bytes,
        encode=bytes,
        consumer_kwargs=s.aiokafka_kwargs(),
        value_type=bytes,
    )


def aggregate_table(
    app: faust.App,
    s: Settings,
    view: AggregateView,
    *,
    on_changelog_event: Callable[[Any], Awaitable[None]],
) -> BufferedTable:
    """Per team/rep aggregates in their key's partition, as JSON; restores feed the view and the stage, and the
    view forgets the partitions the store drops."""
    return buffered_table(
        app,
        "aggregates",
        partitions=s.partitions,
        partition_of=aggregate_key_partition(s.partitions),
        decode=orjson.loads,
        encode=orjson.dumps,
        consumer_kwargs=s.aiokafka_kwargs(),
        on_restored=view.apply,
        on_dropped=view.drop,
        on_changelog_event=on_changelog_event,
    )

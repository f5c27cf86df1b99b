"""Topic names of SPEC §1 and which topic carries which event type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import faust

    from streams.settings import Settings

INPUT_TOPICS: Final = ("leads", "calls", "emails", "deals", "meetings", "targets", "calendars")
OUTPUT_TOPICS: Final = ("alerts", "deadletter", "achievements")

TOPIC_OF_TYPE: Final[dict[str, str]] = {
    "lead.created": "leads",
    "lead.assigned": "leads",
    "lead.disqualified": "leads",
    "call.completed": "calls",
    "email.sent": "emails",
    "email.opened": "emails",
    "email.clicked": "emails",
    "email.replied": "emails",
    "email.unsubscribed": "emails",
    "deal.created": "deals",
    "deal.won": "deals",
    "deal.lost": "deals",
    "deal.stage_changed": "deals",
    "meeting.scheduled": "meetings",
    "meeting.completed": "meetings",
    "target.set": "targets",
    "calendar.set": "calendars",
}

COMPACTED: Final = frozenset({"targets", "calendars"})
ACHIEVEMENTS_KEPT_DAYS: Final = 35


def topic_name(prefix: str, short: str) -> str:
    """The full topic name, e.g. `sales.` + `calls`."""
    return f"{prefix}{short}"


def spec_key(event: dict[str, object]) -> str | None:
    """The message key SPEC §1 recommends for an event (producers may use any)."""
    kind = str(event.get("type", ""))
    if kind == "target.set":
        return f"{event.get('team_id')}/{event.get('rep_id') or ''}/{event.get('period')}/{event.get('metric')}"
    if kind == "calendar.set":
        return str(event.get("team_id"))
    fallback = {"deal": "deal_id", "meeting": "meeting_id"}.get(kind.partition(".")[0], "rep_id")
    for field in ("lead_id", fallback):
        value = event.get(field)
        if isinstance(value, str):
            return value
    return None


INTERNAL_TOPICS: Final = ("entities", "aggregates")  # each also has its table's changelog
NOTIFICATIONS: Final = "notifications"  # compacted delivery state of the alert webhooks (agents/alerts/notify.py)


def internal_topic_name(settings: Settings, short: str) -> str:
    return f"{settings.faust_id}-{short}"


def internal_topics(settings: Settings) -> dict[str, dict[str, str]]:
    """The worker's own topics: the two repartition topics and the changelogs of their tables, and the
    notifications' delivery state when alerts are sent to webhooks."""
    compact = {"cleanup.policy": "compact"}
    out: dict[str, dict[str, str]] = {}
    for short in INTERNAL_TOPICS:
        out[internal_topic_name(settings, short)] = {}
        out[f"{internal_topic_name(settings, short)}-changelog"] = compact
    if settings.alert_routes():
        out[internal_topic_name(settings, NOTIFICATIONS)] = compact
    return out


def faust_topic(app: faust.App, settings: Settings, short: str) -> faust.TopicT:
    """A Faust topic of this worker: an internal one (`entities`, `aggregates`) or an output topic;
    raw keys, orjson values."""
    internal = short in INTERNAL_TOPICS
    name = internal_topic_name(settings, short) if internal else topic_name(settings.topic_prefix, short)
    return app.topic(
        name, key_serializer="raw", value_serializer="orjson", partitions=settings.partitions, internal=internal
    )


def delivered_sender(topic: faust.TopicT) -> Callable[[bytes, dict[str, Any]], Awaitable[None]]:
    """Send to a Faust topic and return once the broker has the message (not when it is only buffered)."""

    async def send(key: bytes, value: dict[str, Any]) -> None:
        await (await topic.send(key=key, value=value))

    return send


def _topic_config(short: str, settings: Settings) -> dict[str, str]:
    if short in COMPACTED:
        return {"cleanup.policy": "compact"}
    if short == "alerts":  # read back after a restart to send each alert once: keep them as long as the state
        return {"retention.ms": str(int(settings.retention_days * 86400 * 1000))}
    if short == "achievements":  # read back too: at least as long as a month's goals can be announced
        return {"retention.ms": str(int(max(settings.retention_days, ACHIEVEMENTS_KEPT_DAYS) * 86400 * 1000))}
    return {}


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the topics of SPEC §1 that do not exist yet (targets compacted), each with
    `SALESFLOOR_REPLICATION_FACTOR` replicas and its `min.insync.replicas`; returns those created."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**settings.aiokafka_kwargs())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        replicated = {"min.insync.replicas": str(settings.min_insync_replicas)}
        wanted = [
            NewTopic(
                topic_name(settings.topic_prefix, short),
                num_partitions=settings.partitions,
                replication_factor=settings.replication_factor,
                topic_configs={**_topic_config(short, settings), **replicated},
            )
            for short in (*INPUT_TOPICS, *OUTPUT_TOPICS)
            if topic_name(settings.topic_prefix, short) not in existing
        ]
        # The internal topics too: a consumer that subscribes before they exist is not assigned
        # their partitions until its next metadata refresh, minutes later.
        for name, config in internal_topics(settings).items():
            if name not in existing:
                wanted.append(
                    NewTopic(
                        name,
                        num_partitions=settings.partitions,
                        replication_factor=settings.replication_factor,
                        topic_configs={**config, **replicated},
                    )
                )
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another worker created them first
        return [topic.name for topic in wanted]
    finally:
        await admin.close()

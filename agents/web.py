"""The worker's web port: /metrics, the JSON API and health."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from aiohttp import ClientSession, ClientTimeout
from aiohttp.web import Response
from faust.types import TP
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.contributions import ALL
from agents.exporter import KpiExposition, RegistryWithoutKpis, aggregate_partition, consumer_lag, key_series
from agents.kpis import WINDOWS, Series

if TYPE_CHECKING:
    from agents.pipeline import Pipeline


def install_web(pipeline: Pipeline) -> None:
    from agents.wallboard import install_wallboard

    app = pipeline.app
    kpi_text = KpiExposition(pipeline)
    others = RegistryWithoutKpis(pipeline.registry)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        kpis = await kpi_text.render()
        body = generate_latest(others) + kpis.encode()
        return Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/api/kpis")
    async def kpis(web: Any, request: Any) -> Any:
        query = request.query
        team, rep = query.get("team") or ALL, query.get("rep") or ALL
        window = query.get("window")
        if window is not None and window not in WINDOWS:
            return web.json({"error": f"window must be one of {list(WINDOWS)}"}, status=400)
        day: date | None = None
        if query.get("date"):
            try:
                day = date.fromisoformat(query["date"])
            except ValueError:
                return web.json({"error": "date must be YYYY-MM-DD"}, status=400)
            if window == "last_60m":
                return web.json({"error": "last_60m has no past windows"}, status=400)
        owner = owner_url(pipeline, team, rep)
        if owner is not None and ROUTED not in request.headers:
            return await forward(web, owner, request)
        return web.json(kpi_document(pipeline, team, rep, window, day))

    @app.page("/api/health")
    async def health(web: Any, request: Any) -> Any:
        document = health_document(pipeline)
        return web.json(document, status=200 if document["ready"] else 503)

    install_wallboard(pipeline)


ROUTED = "X-Salesfloor-Routed"


def owner_url(pipeline: Pipeline, team: str, rep: str) -> str | None:
    """The web URL of the worker owning a team/rep's aggregates, or None when it is this worker."""
    partition = aggregate_partition(team, rep, pipeline.settings.partitions)
    if partition in pipeline.assigned_aggregate_partitions():
        return None
    changelog = pipeline.aggregates.changelog_topic.get_topic_name()
    url = pipeline.app.assignor._tps_url.get(TP(changelog, partition))  # noqa: SLF001 - Faust's routing map
    return str(url) if url else None


async def forward(web: Any, owner: str, request: Any) -> Any:
    """Answer from the owning worker, as Faust's table routing does, but for our own key partitioning."""
    async with ClientSession(timeout=ClientTimeout(total=10)) as session:
        async with session.get(f"{owner.rstrip('/')}{request.path_qs}", headers={ROUTED: "1"}) as reply:
            return web.json(await reply.json(), status=reply.status)


def kpi_document(pipeline: Pipeline, team: str, rep: str, window: str | None, day: date | None) -> dict[str, Any]:
    """Every KPI of one team/rep as JSON: windows → metric → value (stat → value for percentiles)."""
    series = [
        (metric, labels, value) for metric, labels, value in key_series(pipeline, team, rep, day=day)
        if window is None or labels.get("window", window) == window
    ]
    return {"team": team, "rep": rep, "date": day.isoformat() if day else None, **api_shape(series)}


def api_shape(series: Iterable[Series]) -> dict[str, Any]:
    """Series of one team/rep as `/api/kpis` shapes them: windows → metric → value (stat → value)."""
    windows: dict[str, dict[str, Any]] = {}
    live: dict[str, float] = {}
    for metric, labels, value in series:
        name = metric.removeprefix("salesfloor_")
        if "window" not in labels:
            live[name] = value
            continue
        values = windows.setdefault(labels["window"], {})
        if "stat" in labels:
            values.setdefault(name, {})[labels["stat"]] = value
        else:
            values[name] = value
    return {"windows": windows, "live": live}


BROKER_TIMEOUT_S = 6.0  # health turns not-ready when the broker has not answered this long
CAUGHT_UP_GRACE_S = 5.0  # a busy floor always has events in flight: ready if caught up this recently


def health_document(pipeline: Pipeline) -> dict[str, Any]:
    """Ready when the broker answers, partitions are assigned and every assigned input partition was
    read to its end within the last few seconds."""
    lag = consumer_lag(pipeline.app)
    now = time.monotonic()
    caught_up = bool(lag) and all(v == 0 for v in lag.values())
    if caught_up:
        pipeline.caught_up_at = now
    broker_ok = now - pipeline.broker_seen_at <= BROKER_TIMEOUT_S
    recently = bool(lag) and now - pipeline.caught_up_at <= CAUGHT_UP_GRACE_S
    return {
        "ready": broker_ok and recently,
        "broker_reachable": broker_ok,
        "assigned": [f"{tp.topic}[{tp.partition}]" for tp in sorted(lag)],
        "caught_up": caught_up,
        "lag": {f"{tp.topic}[{tp.partition}]": v for tp, v in sorted(lag.items())},
        "entities": len(pipeline.entities),
        "aggregate_buckets": len(pipeline.aggregates),
    }

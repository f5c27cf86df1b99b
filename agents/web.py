"""The worker's web port: /metrics, the JSON API and health."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.contributions import ALL
from agents.exporter import owned_series
from agents.kpis import WINDOWS

if TYPE_CHECKING:
    from agents.pipeline import Pipeline


def install_web(pipeline: Pipeline) -> None:
    app = pipeline.app

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        body = generate_latest(pipeline.registry)
        return web.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0],
                         headers={"Content-Type": CONTENT_TYPE_LATEST})

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
        return web.json(kpi_document(pipeline, team, rep, window, day))

    @app.page("/api/health")
    async def health(web: Any, request: Any) -> Any:
        document = health_document(pipeline)
        return web.json(document, status=200 if document["ready"] else 503)


def kpi_document(pipeline: Pipeline, team: str, rep: str, window: str | None, day: date | None) -> dict[str, Any]:
    """Every KPI of one team/rep as JSON: windows → metric → value (stat → value for percentiles)."""
    windows: dict[str, dict[str, Any]] = {}
    live: dict[str, float] = {}
    for metric, labels, value in owned_series(pipeline, day=day):
        if labels.get("team") != team or labels.get("rep", ALL) != rep:
            continue
        name = metric.removeprefix("salesfloor_")
        if "window" not in labels:
            live[name] = value
            continue
        if window is not None and labels["window"] != window:
            continue
        values = windows.setdefault(labels["window"], {})
        if "stat" in labels:
            values.setdefault(name, {})[labels["stat"]] = value
        else:
            values[name] = value
    return {"team": team, "rep": rep, "date": day.isoformat() if day else None, "windows": windows, "live": live}


def health_document(pipeline: Pipeline) -> dict[str, Any]:
    """Ready when partitions are assigned and every assigned partition is read up to its end."""
    app = pipeline.app
    consumer = app.consumer
    assigned = sorted(app.assignor.assigned_actives())
    lag: dict[str, int] = {}
    for tp in assigned:
        try:
            highwater = consumer.highwater(tp)
        except Exception:  # noqa: BLE001 - not fetched yet
            highwater = None
        position = consumer._read_offset.get(tp)  # noqa: SLF001 - Faust keeps no public read position
        if highwater is not None:
            read = -1 if position is None else position
            lag[f"{tp.topic}[{tp.partition}]"] = max(0, highwater - read - 1)
    caught_up = bool(assigned) and all(v == 0 for v in lag.values()) and len(lag) == len(assigned)
    return {
        "ready": bool(assigned) and caught_up,
        "assigned": [f"{tp.topic}[{tp.partition}]" for tp in assigned],
        "caught_up": caught_up,
        "lag": lag,
    }

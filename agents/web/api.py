"""The worker's web port: /metrics, the JSON API and health."""

from __future__ import annotations

from datetime import date
from typing import Any

import faust
from aiohttp import ClientSession, ClientTimeout
from aiohttp.web import StreamResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agents.export.exposition import KpiExposition, RegistryWithoutKpis, encoded_chunks
from agents.export.health import Health
from agents.export.source import Worker
from agents.kpis.model import ALL
from agents.kpis.windows import WINDOWS
from agents.routing import aggregate_partition
from agents.web.auth import install_auth, token_headers
from agents.web.documents import MAX_POINTS, Kept, history_document, kpi_document, periods
from agents.web.wallboard import install_wallboard

ROUTED = "X-Salesfloor-Routed"
METRICS_CHUNK_BYTES = 64 * 1024


def install_web(app: faust.App, worker: Worker, registry: CollectorRegistry) -> None:
    token = worker.settings.token()
    install_auth(app, token)
    kpi_text = KpiExposition(worker)
    others = RegistryWithoutKpis(registry)
    health = Health(worker)

    @app.page("/metrics")
    async def metrics(web: Any, request: Any) -> Any:
        pieces = await kpi_text.pieces()
        response = StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
        await response.prepare(request)
        await response.write(generate_latest(others))
        for chunk in encoded_chunks(pieces, METRICS_CHUNK_BYTES):
            await response.write(chunk)
        await response.write_eof()
        return response

    @app.page("/api/kpis")
    async def kpis(web: Any, request: Any) -> Any:
        query = request.query
        team, rep = query.get("team") or ALL, query.get("rep") or ALL
        window = query.get("window")
        if window is not None and window not in WINDOWS:
            return web.json({"error": f"window must be one of {list(WINDOWS)}"}, status=400)
        day: date | None = None
        month = query.get("month")
        if query.get("date") and month:
            return web.json({"error": "ask for a date or a month, not both"}, status=400)
        if query.get("date"):
            day = parse_day(query["date"])
            if day is None:
                return web.json({"error": "date must be YYYY-MM-DD"}, status=400)
            if window == "last_60m":
                return web.json({"error": "last_60m has no past windows"}, status=400)
            if error := Kept.of(worker).day_error(day):
                return web.json({"error": error}, status=404)
        if month:
            if not is_month(month) or window not in (None, "month"):
                return web.json({"error": "month must be YYYY-MM (its window is `month`)"}, status=400)
            if error := Kept.of(worker).month_error(month):
                return web.json({"error": error}, status=404)
        owner = worker.owner_url(aggregate_partition(team, rep, worker.settings.partitions))
        if owner is not None and ROUTED not in request.headers:
            return await forward(web, owner, request, token)
        return web.json(kpi_document(worker, team, rep, window, day, month or None))

    @app.page("/api/history")
    async def history(web: Any, request: Any) -> Any:
        query = request.query
        team, rep, kpi = query.get("team") or ALL, query.get("rep") or ALL, query.get("kpi") or ""
        first, last = query.get("from") or "", query.get("to") or ""
        if "salesfloor_" + kpi.removeprefix("salesfloor_") not in worker.kpis.windowed_metrics():
            return web.json({"error": f"kpi must name a windowed KPI of SPEC §4, got {kpi[:64]!r}"}, status=400)
        first_day, last_day = parse_day(first), parse_day(last)
        if not ((first_day and last_day) or (is_month(first) and is_month(last))) or first > last:
            return web.json({"error": "from and to must both be YYYY-MM-DD or both YYYY-MM, from <= to"}, status=400)
        kept = Kept.of(worker)
        if first_day and last_day:
            error = kept.day_error(first_day) or kept.day_error(last_day)
        else:
            error = kept.month_error(first) or kept.month_error(last)
        if error:
            return web.json({"error": error}, status=404)
        if len(periods(first, last)) > MAX_POINTS:
            return web.json({"error": f"at most {MAX_POINTS} points per request"}, status=400)
        owner = worker.owner_url(aggregate_partition(team, rep, worker.settings.partitions))
        if owner is not None and ROUTED not in request.headers:
            return await forward(web, owner, request, token)
        return web.json(history_document(worker, team, rep, kpi, first, last))

    @app.page("/api/health")
    async def health_page(web: Any, request: Any) -> Any:
        document = health.document()
        return web.json(document, status=200 if document["ready"] else 503)

    install_wallboard(app, worker)


async def forward(web: Any, owner: str, request: Any, token: str | None) -> Any:
    """Answer from the owning worker, as Faust's table routing does, but for our own key partitioning."""
    headers = {ROUTED: "1", **token_headers(token)}
    async with ClientSession(timeout=ClientTimeout(total=10)) as session:
        async with session.get(f"{owner.rstrip('/')}{request.path_qs}", headers=headers) as reply:
            return web.json(await reply.json(), status=reply.status)


def parse_day(text: str) -> date | None:
    if len(text) != 10:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def is_month(text: str) -> bool:
    return len(text) == 7 and parse_day(text + "-01") is not None

"""The worker's web port: /metrics, the JSON API and health."""

from __future__ import annotations

from datetime import date
from typing import Any

import faust
from aiohttp import ClientSession, ClientTimeout
from aiohttp.web import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from agents.export.exposition import KpiExposition, RegistryWithoutKpis
from agents.export.health import Health
from agents.export.source import Worker
from agents.kpis.model import ALL
from agents.kpis.windows import WINDOWS
from agents.routing import aggregate_partition
from agents.web.documents import kpi_document
from agents.web.wallboard import install_wallboard

ROUTED = "X-Salesfloor-Routed"


def install_web(app: faust.App, worker: Worker, registry: CollectorRegistry) -> None:
    kpi_text = KpiExposition(worker)
    others = RegistryWithoutKpis(registry)
    health = Health(worker)

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
        owner = worker.owner_url(aggregate_partition(team, rep, worker.settings.partitions))
        if owner is not None and ROUTED not in request.headers:
            return await forward(web, owner, request)
        return web.json(kpi_document(worker, team, rep, window, day))

    @app.page("/api/health")
    async def health_page(web: Any, request: Any) -> Any:
        document = health.document()
        return web.json(document, status=200 if document["ready"] else 503)

    install_wallboard(app, worker)


async def forward(web: Any, owner: str, request: Any) -> Any:
    """Answer from the owning worker, as Faust's table routing does, but for our own key partitioning."""
    async with ClientSession(timeout=ClientTimeout(total=10)) as session:
        async with session.get(f"{owner.rstrip('/')}{request.path_qs}", headers={ROUTED: "1"}) as reply:
            return web.json(await reply.json(), status=reply.status)

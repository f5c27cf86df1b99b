"""The JSON documents of `/api/kpis`: one team/rep's series shaped as windows → metric → value."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from agents.export.exposition import key_series
from agents.export.source import Worker
from agents.kpis.model import Series


def kpi_document(worker: Worker, team: str, rep: str, window: str | None, day: date | None) -> dict[str, Any]:
    """Every KPI of one team/rep as JSON: windows → metric → value (stat → value for percentiles)."""
    series = [
        (metric, labels, value)
        for metric, labels, value in key_series(worker, team, rep, day=day)
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

"""The JSON documents of `/api/kpis` (one team/rep's series shaped as windows → metric → value) and
`/api/history` (one KPI of one team/rep, day by day or month by month), over the span that is kept."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from agents.export.exposition import key_buckets, key_series
from agents.export.source import Worker
from agents.kpis.model import Series
from agents.kpis.windows import Horizon, now_us

MAX_POINTS = 400  # a history answer has at most this many days or months


@dataclass(frozen=True)
class Kept:
    """The days and months whose windows this worker still answers for."""

    first_day: date
    last_day: date
    first_month: str  # YYYY-MM
    last_month: str

    @classmethod
    def of(cls, worker: Worker) -> Kept:
        clock, now = worker.kpis.clock, now_us()
        history = Horizon.history(now, worker.settings.history_days, clock)
        today = date.fromisoformat(clock.day(now)[1:])
        return cls(date.fromisoformat(history.first_day[1:]), today, history.first_month, today.isoformat()[:7])

    def day_error(self, day: date) -> str | None:
        if self.first_day <= day <= self.last_day:
            return None
        return f"date {day.isoformat()} is not kept: days from {self.first_day} to {self.last_day} are"

    def month_error(self, month: str) -> str | None:
        if self.first_month <= month <= self.last_month:
            return None
        return f"month {month} is not kept: months from {self.first_month} to {self.last_month} are"


def kpi_document(
    worker: Worker, team: str, rep: str, window: str | None, day: date | None, month: str | None = None
) -> dict[str, Any]:
    """Every KPI of one team/rep as JSON: windows → metric → value (stat → value for percentiles). With
    `month` (YYYY-MM), only that month's window."""
    if month is not None:
        day, window = date.fromisoformat(month + "-01"), "month"
    windows = None if window is None else (window,)
    series = [
        (metric, labels, value)
        for metric, labels, value in key_series(worker, team, rep, day=day, windows=windows)
        if window is None or labels.get("window", window) == window
    ]
    shape = api_shape(series)
    if month is not None:
        shape["live"] = {}
    return {"team": team, "rep": rep, "date": None if day is None or month else day.isoformat(), "month": month,
            **shape}  # fmt: skip


def history_document(worker: Worker, team: str, rep: str, kpi: str, first: str, last: str) -> dict[str, Any]:
    """One KPI day by day (`first`/`last` are YYYY-MM-DD: its `today` window of each day) or month by
    month (YYYY-MM: its `month` window); a value of its own labels (stat, stage, metric) is an object,
    and a KPI with no value that day (a ratio of nothing) is null."""
    name = kpi.removeprefix("salesfloor_")
    metric = "salesfloor_" + name
    by_month = len(first) == 7
    window = "month" if by_month else "today"
    buckets = key_buckets(worker, team, rep) or {}
    now = now_us()
    points = []
    for point in periods(first, last):
        day = date.fromisoformat(point + "-01" if by_month else point)
        series = worker.kpis.series_for(team, rep, buckets, now_us=now, day=day, windows=(window,))
        shape = api_shape(s for s in series if s[0] == metric)
        values = shape["windows"].get(window) or shape["breakdowns"].get(window, {})
        points.append({"month" if by_month else "date": point, "value": values.get(name)})
    return {"team": team, "rep": rep, "kpi": name,
            "resolution": "month" if by_month else "day", "points": points}  # fmt: skip


def periods(first: str, last: str) -> list[str]:
    """The days (YYYY-MM-DD) or months (YYYY-MM) from `first` to `last`, both included."""
    if len(first) == 7:
        out, (year, month) = [], map(int, first.split("-"))
        while f"{year:04d}-{month:02d}" <= last:
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def api_shape(series: Iterable[Series]) -> dict[str, Any]:
    """Series of one team/rep as `/api/kpis` shapes them: windows → metric → value, and for a metric
    with a label of its own (`stat`, `stage`, `metric`) → label value → value; live gauges alike; the
    team's breakdowns (windowed series without a `rep`) as breakdowns → window → metric → label value."""
    windows: dict[str, dict[str, Any]] = {}
    breakdowns: dict[str, dict[str, Any]] = {}
    live: dict[str, Any] = {}
    for metric, labels, value in series:
        name = metric.removeprefix("salesfloor_")
        if "window" not in labels:
            values = live
        else:
            values = (windows if "rep" in labels else breakdowns).setdefault(labels["window"], {})
        extra = [v for label, v in labels.items() if label not in KEY_LABELS]
        if extra:
            values.setdefault(name, {})[extra[0]] = value
        else:
            values[name] = value
    return {"windows": windows, "live": live, "breakdowns": breakdowns}


KEY_LABELS = frozenset({"team", "rep", "window"})

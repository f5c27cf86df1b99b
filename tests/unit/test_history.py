"""History (SPEC §4): days kept for SALESFLOOR_HISTORY_DAYS and months for 13 after the events'
retention — days folded once into month rollups, buckets before the retention frozen in the entity
stage, and the API's kept span, month and history documents."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from agents.aggregates.stage import ROLLUP, AggregateStage
from agents.aggregates.view import AggregateView
from agents.entities.state import PartialAggregates
from agents.kpis import kpis_for
from agents.kpis.model import ALL, LIVE, BucketClock
from agents.kpis.windows import Horizon
from agents.routing import SEP
from agents.web.documents import Kept, history_document, kpi_document, periods
from streams.kafka.buffered import MemoryTable
from tests.unit.test_engine_vs_reference import unexpected
from tests.unit.test_exporter import FakePipeline

UTC_CLOCK = BucketClock(ZoneInfo("UTC"))
NOW_US = int(datetime(2026, 12, 1, 12, tzinfo=timezone.utc).timestamp() * 1_000_000)


def snapshot(stage: AggregateStage, source: int, version: int, bucket: str, fields: dict[str, int]) -> None:
    stage.apply(0, version, {"s": [[source, version, "north", "ann", bucket, fields]]})


def test_a_day_leaving_the_history_is_folded_into_its_month_once() -> None:
    table, view = MemoryTable(), AggregateView()
    stage = AggregateStage(table, view, foreign=unexpected)
    snapshot(stage, 0, 1, "d2026-09-29", {"lc": 2, "wa": 5})
    snapshot(stage, 1, 2, "d2026-09-29", {"lc": 1})
    snapshot(stage, 0, 3, "d2026-09-30", {"lc": 4})
    snapshot(stage, 0, 4, "d2026-08-31", {"lc": 9})
    history = Horizon.history(NOW_US, 62, UTC_CLOCK)
    assert history.first_day == "d2026-09-30" and history.first_month == "2025-12"
    stage.expire(0, history)
    buckets = view.buckets[("north", "ann")]
    assert "d2026-09-29" not in buckets and buckets["d2026-09-30"] == {"lc": 4}
    assert buckets["M2026-09"] == {"lc": 3, "wa": 5}
    assert buckets["M2026-08"] == {"lc": 9}
    assert table.data[SEP.join(("north", "ann", "M2026-09"))][ROLLUP][2] == ["d2026-09-29"]
    # the day comes back (its tombstone was lost in a crash): folded once all the same
    snapshot(stage, 0, 5, "d2026-09-29", {"lc": 2, "wa": 5})
    stage.expire(0, history)
    assert view.buckets[("north", "ann")]["M2026-09"] == {"lc": 3, "wa": 5}
    kpis = kpis_for(ZoneInfo("UTC"), 300_000_000)
    month = {
        m: v
        for m, labels, v in kpis.series_for(
            "north", "ann", view.buckets[("north", "ann")], now_us=NOW_US, day=date(2026, 9, 15)
        )
        if labels.get("window") == "month"
    }
    assert month["salesfloor_leads_created"] == 7  # the rollup and the day still kept
    assert month["salesfloor_won_amount"] == 5e-6
    later = Horizon.history(NOW_US + 400 * 86_400_000_000, 62, UTC_CLOCK)
    stage.expire(0, later)
    assert view.buckets[("north", "ann")] == {}  # months past 13 go, and days past them are not folded


def test_buckets_before_the_retention_are_frozen_in_the_entity_stage() -> None:
    partial = PartialAggregates(frozen_before="2026-10-22")
    partial.apply({
        ("north", "ann", "d2026-10-21", "lv"): 1,  # a late cohort change of an old day
        ("north", "ann", "p2026-10-21:calls_outbound", "tv"): 1,
        ("north", "ann", "w2026-10-21", "3600"): 5,
        ("north", "ann", "p2026-09:won_amount", "tv"): 1,
        ("north", "ann", "d2026-10-22", "lv"): 1,
        ("north", "ann", "p2026-10:won_amount", "tv"): 1,
        ("north", ALL, LIVE, "aw"): 1,
        ("north", "ann", "m29000000", "co"): 1,
    })  # fmt: skip
    assert sorted(key[2] for key in partial.buckets) == ["d2026-10-22", LIVE, "m29000000", "p2026-10:won_amount"]


def test_kept_span_and_periods() -> None:
    kept = Kept(date(2026, 9, 30), date(2026, 12, 1), "2025-12", "2026-12")
    assert kept.day_error(date(2026, 9, 30)) is None and kept.day_error(date(2026, 12, 1)) is None
    assert kept.day_error(date(1900, 1, 1)) == "date 1900-01-01 is not kept: days from 2026-09-30 to 2026-12-01 are"
    assert kept.day_error(date(2026, 12, 2)) is not None
    assert kept.month_error("2025-12") is None and kept.month_error("2025-11") is not None
    assert periods("2026-11-29", "2026-12-02") == ["2026-11-29", "2026-11-30", "2026-12-01", "2026-12-02"]
    assert periods("2025-11", "2026-02") == ["2025-11", "2025-12", "2026-01", "2026-02"]


@pytest.fixture
def worker() -> Any:
    worker = FakePipeline(max_reps=1000)
    worker.kpis = kpis_for(ZoneInfo("UTC"), 300_000_000)
    for day, created in (("d2026-11-29", 2), ("d2026-11-30", 5), ("M2026-10", 40)):
        worker.view.put(0, "north", ALL, day, {"0": [1, {"lc": created, "rn": created, "rw": 1}]})
    return worker


def test_history_day_by_day_and_month_by_month(worker: Any) -> None:
    days = history_document(worker, "north", ALL, "leads_created", "2026-11-28", "2026-11-30")
    assert days["resolution"] == "day"
    assert days["points"] == [{"date": "2026-11-28", "value": 0.0}, {"date": "2026-11-29", "value": 2.0},
                              {"date": "2026-11-30", "value": 5.0}]  # fmt: skip
    ratio = history_document(worker, "north", ALL, "salesfloor_lead_response_within_sla_ratio", "2026-11-28",
                             "2026-11-29")  # fmt: skip
    assert [p["value"] for p in ratio["points"]] == [None, 0.5]  # no leads responded: no ratio
    months = history_document(worker, "north", ALL, "leads_created", "2026-10", "2026-11")
    assert months["points"] == [{"month": "2026-10", "value": 40.0}, {"month": "2026-11", "value": 7.0}]
    document = kpi_document(worker, "north", ALL, None, None, "2026-10")
    assert list(document["windows"]) == ["month"] and document["windows"]["month"]["leads_created"] == 40
    assert document["month"] == "2026-10" and document["live"] == {}

"""/metrics writes the KPI gauges itself (and keeps them per team/rep between scrapes): the text must
stay what prometheus_client's `generate_latest` writes for `KpiCollector`, whatever changed in the
view or on the clock; /api/kpis builds one team/rep and must answer as filtering every series did."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from agents.aggregates.view import AggregateView
from agents.export import exposition as exporter
from agents.export.exposition import KpiCollector, KpiExposition, RegistryWithoutKpis, owned_series
from agents.export.rows import OTHER
from agents.kpis import activity as act
from agents.kpis import conversion as cv
from agents.kpis import follow_up as fu
from agents.kpis import kpis_for
from agents.kpis import meetings as mt
from agents.kpis import response as ld
from agents.kpis import revenue as rv
from agents.kpis import targets as tg
from agents.kpis.model import ALL, LIVE, MINUTE_US, UNASSIGNED, BucketClock
from agents.kpis.response import OLDEST_AWAITING
from agents.kpis.series import Kpis
from agents.kpis.windows import WINDOWS
from agents.routing import aggregate_partition
from agents.web.documents import api_shape, kpi_document

WARSAW = ZoneInfo("Europe/Warsaw")
NOW = datetime(2026, 11, 25, 14, 30, 17, 250_000, tzinfo=WARSAW)
PARTITIONS = 4
FIELDS = (
    mt.SCHEDULED,
    mt.HELD,
    mt.NO_SHOW,
    mt.FIRST_HELD,
    mt.FIRST_HELD_CONVERTED,
    act.EMAILS_UNSUBSCRIBED,
    rv.ENTERED_STAGE + "proposal",
    ld.CREATED,
    cv.CONVERTED,
    ld.RESPONDED,
    ld.RESPONSE_SUM_US,
    ld.WITHIN_SLA,
    fu.FOLLOWED_UP,
    cv.CONVERSIONS,
    cv.CONTACTS_BEFORE_CONVERSION,
    rv.OPPORTUNITIES,
    rv.WON,
    rv.WON_AMOUNT,
    rv.LOST,
    rv.LOST_AMOUNT,
    rv.CYCLES,
    rv.CYCLE_SUM_US,
    act.CALLS_OUTBOUND,
    act.CALLS_CONNECTED,
    act.TALK_TIME_US,
    act.EMAILS_SENT,
    act.EMAILS_OPENED,
    act.EMAILS_CLICKED,
    act.EMAILS_REPLIED,
)
TEAMS = ("north", "south", 'we"st\\side\nB')  # a label value needing every escape


def us(stamp: datetime) -> int:
    return int(stamp.timestamp() * 1_000_000)


@dataclass
class FakePipeline:
    """What the exporter reads of a pipeline."""

    max_reps: int
    view: AggregateView = field(default_factory=AggregateView)
    kpis: Kpis = field(default_factory=lambda: kpis_for(WARSAW, 300_000_000))
    assigned: set[int] = field(default_factory=lambda: set(range(PARTITIONS)))

    @property
    def settings(self) -> Any:
        return SimpleNamespace(partitions=PARTITIONS, max_reps=self.max_reps)

    @property
    def clock(self) -> BucketClock:
        return self.kpis.clock

    def assigned_aggregate_partitions(self) -> set[int]:
        return self.assigned


def random_fields(rng: random.Random) -> dict[str, int]:
    fields = {name: rng.randrange(0, 50) for name in rng.sample(FIELDS, rng.randrange(0, len(FIELDS)))}
    for name in (rv.WON_AMOUNT, ld.RESPONSE_SUM_US, rv.CYCLE_SUM_US, act.TALK_TIME_US, rv.LOST_AMOUNT):
        if name in fields:
            fields[name] *= rng.choice((1, 1_000_003, 123_456_789_012))
    for _ in range(rng.randrange(0, 4)):
        fields[f"{ld.RESPONSE_HISTOGRAM}{rng.randrange(0, 160)}"] = rng.randrange(0, 5)
    return fields


def random_bucket(rng: random.Random, now_us: int, clock: BucketClock, rep: str) -> tuple[str, dict[str, int]]:
    kind = rng.choice("dddmmmlpw")
    if kind == "d":
        return clock.day(now_us - rng.choice((0, 0, 1, 5, 40)) * 86_400_000_000), random_fields(rng)
    if kind == "m":
        return f"m{now_us // MINUTE_US - rng.randrange(0, 90)}", random_fields(rng)
    if kind == "p":
        period = rng.choice(("2026-11", "2026-10", "2026-11-25", "2026-11-24"))
        bucket = tg.period_bucket(period, rng.choice(sorted(tg.METRICS)))
        return bucket, {tg.TARGET: rng.choice((0, 5_000_000_000, 7_777_777))}
    if kind == "w":
        return "w" + clock.day(now_us - rng.choice((0, 30)) * 86_400_000_000)[1:], {
            str(rng.randrange(0, 86400)): rng.randrange(1, 10**9) for _ in range(rng.randrange(1, 4))
        }
    live = {ld.AWAITING: rng.randrange(0, 9), rv.PIPELINE_OPEN: rng.randrange(0, 10**12)}
    if rep == ALL:
        live[rv.OPEN_BY_STAGE + rng.choice(("created", "proposal"))] = rng.randrange(0, 10**12)
    if rep == ALL and rng.random() < 0.8:
        live[OLDEST_AWAITING] = now_us - rng.randrange(0, 10**10)
    return LIVE, live


def put_random(pipeline: FakePipeline, rng: random.Random, team: str, rep: str, now_us: int, puts: int = 1) -> None:
    """Random buckets, each split over two source partitions as the view merges them."""
    for _ in range(puts):
        bucket, fields = random_bucket(rng, now_us, pipeline.clock, rep)
        first = {name: value // 2 for name, value in fields.items()}
        second = {name: value - first[name] for name, value in fields.items()}
        if OLDEST_AWAITING in fields:  # a minimum over the sources, not a sum
            first[OLDEST_AWAITING], second[OLDEST_AWAITING] = fields[OLDEST_AWAITING], fields[OLDEST_AWAITING] + 5
        record = {"0": [1, first], "3": [2, second]}
        pipeline.view.put(aggregate_partition(team, rep, PARTITIONS), team, rep, bucket, record)


def random_floor(seed: int, *, reps: int, max_reps: int, with_floor: bool = True) -> FakePipeline:
    rng = random.Random(seed)
    pipeline = FakePipeline(max_reps=max_reps)
    now = us(NOW)
    keys = [(team, f"rep-{team[:2]}-{i:03d}") for team in TEAMS for i in range(reps // len(TEAMS))]
    keys += [(team, ALL) for team in TEAMS] + [(TEAMS[0], UNASSIGNED)]
    if with_floor:
        keys.append((ALL, ALL))
    for team, rep in keys:
        put_random(pipeline, rng, team, rep, now, puts=rng.randrange(1, 12))
    return pipeline


def reference_text(pipeline: FakePipeline, now_us: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """What /metrics served before: prometheus_client's rendering of `KpiCollector`."""
    monkeypatch.setattr(exporter, "wall_now_us", lambda: now_us)
    registry = CollectorRegistry()
    registry.register(KpiCollector(pipeline))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


def samples(text: str) -> list[tuple[Any, ...]]:
    return sorted(
        (
            family.name,
            family.documentation,
            family.type,
            sample.name,
            tuple(sorted(sample.labels.items())),
            sample.value,
        )
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    )


async def assert_same(exposition: KpiExposition, now_us: int, monkeypatch: pytest.MonkeyPatch) -> str:
    text = await exposition.render(now_us)
    expected = reference_text(exposition.worker, now_us, monkeypatch)  # type: ignore[arg-type]
    assert samples(text) == samples(expected)
    assert text == expected  # byte for byte, family and sample order included
    return text


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(("reps", "max_reps"), [(60, 1000), (60, 17), (60, 0)])
async def test_render_equals_prometheus_client(
    seed: int, reps: int, max_reps: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = random_floor(seed, reps=reps, max_reps=max_reps, with_floor=seed % 2 == 0)
    if seed % 3 == 0:
        pipeline.assigned = set(random.Random(seed).sample(range(PARTITIONS), 3))
    text = await assert_same(KpiExposition(pipeline), us(NOW), monkeypatch)  # type: ignore[arg-type]
    assert ('rep="_other"' in text) == (max_reps < reps)
    assert 'team="we\\"st\\\\side\\nB"' in text


async def test_kept_rows_never_go_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each change of the view, of ownership and of the clock shows in the very next scrape."""
    rng = random.Random(7)
    pipeline = random_floor(7, reps=30, max_reps=24)
    exposition = KpiExposition(pipeline)  # type: ignore[arg-type]
    now = us(NOW)
    await assert_same(exposition, now, monkeypatch)
    await assert_same(exposition, now, monkeypatch)  # everything kept
    put_random(pipeline, rng, TEAMS[1], "rep-so-003", now, puts=3)
    await assert_same(exposition, now, monkeypatch)
    folded = f"rep-{TEAMS[2][:2]}-009"
    put_random(pipeline, rng, TEAMS[2], folded, now, puts=3)
    await assert_same(exposition, now, monkeypatch)
    buckets = pipeline.view.buckets[(TEAMS[1], "rep-so-004")]
    del buckets[next(iter(buckets))]  # expiry deletes buckets in place, without a put
    await assert_same(exposition, now, monkeypatch)
    put_random(pipeline, rng, TEAMS[0], "rep-zz-new", now, puts=2)  # one more rep: the fold moves
    await assert_same(exposition, now, monkeypatch)
    pipeline.max_reps = 1000
    await assert_same(exposition, now, monkeypatch)
    pipeline.assigned = {0, 2}
    await assert_same(exposition, now, monkeypatch)
    pipeline.assigned = set(range(PARTITIONS))
    for later in (
        now + 1_000_000,
        now + 29_000_000,
        now + 60_000_000,
        now + 3_600_000_000,
        now + 86_400_000_000,
        us(NOW.replace(day=30, hour=23, minute=59, second=59)),
        us(datetime(2026, 12, 1, tzinfo=WARSAW)),
    ):
        await assert_same(exposition, later, monkeypatch)


async def test_render_lets_the_event_loop_run(monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = random_floor(3, reps=60, max_reps=40)
    exposition = KpiExposition(pipeline)  # type: ignore[arg-type]
    exposition.SLICE_S = 0.0
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    ticker = asyncio.create_task(tick())
    try:
        await assert_same(exposition, us(NOW), monkeypatch)
    finally:
        ticker.cancel()
    assert ticks > 30


async def test_metrics_body_equals_the_whole_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """/metrics = the registry without the KPI collector + the KPI text: the same as the whole registry."""
    pipeline = random_floor(11, reps=30, max_reps=20)
    registry = CollectorRegistry()
    Counter("salesfloor_things", "Things.", ["topic"], registry=registry).labels("a").inc(3)
    registry.register(KpiCollector(pipeline))  # type: ignore[arg-type]
    Counter("salesfloor_other_things", "Other things.", registry=registry).inc()
    now = us(NOW)
    monkeypatch.setattr(exporter, "wall_now_us", lambda: now)
    kpis = await KpiExposition(pipeline).render(now)  # type: ignore[arg-type]
    body = generate_latest(RegistryWithoutKpis(registry)) + kpis.encode()
    assert samples(body.decode()) == samples(generate_latest(registry).decode())


def filtered_document(
    pipeline: FakePipeline, team: str, rep: str, window: str | None, day: date | None
) -> dict[str, Any]:
    """/api/kpis as it was: every owned series built, then filtered."""
    series = [
        (metric, labels, value)
        for metric, labels, value in owned_series(pipeline, day=day)  # type: ignore[arg-type]
        if labels.get("team") == team
        and labels.get("rep", ALL) == rep
        and (window is None or labels.get("window", window) == window)
    ]
    return {"team": team, "rep": rep, "date": day.isoformat() if day else None, "month": None, **api_shape(series)}


@pytest.mark.parametrize("seed", range(3))
def test_kpi_document_builds_one_key_as_filtering_all_did(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    pipeline = random_floor(seed, reps=45, max_reps=30, with_floor=seed != 1)
    pipeline.assigned = {0, 1, 3} if seed == 2 else pipeline.assigned
    now = us(NOW)
    monkeypatch.setattr(exporter, "wall_now_us", lambda: now)
    asked = sorted(pipeline.view.buckets) + [
        (ALL, ALL),
        (TEAMS[0], OTHER),
        (TEAMS[1], OTHER),
        ("nowhere", "x"),
        (TEAMS[0], "rep-no-000"),
        (ALL, "rep-no-000"),
    ]
    answered = 0
    for team, rep in asked:
        for window in (None, *WINDOWS):
            for day in (None, NOW.date(), NOW.date() - timedelta(days=31)):
                if day is not None and window == "last_60m":
                    continue
                document = kpi_document(pipeline, team, rep, window, day)  # type: ignore[arg-type]
                assert document == filtered_document(pipeline, team, rep, window, day)
                answered += bool(document["windows"])
    assert answered > len(asked)


@given(st.lists(st.text(alphabet='ab{}="\\n ěß', max_size=40), max_size=60), st.integers(1, 100))
def test_encoded_chunks_are_the_text_in_bounded_pieces(pieces: list[str], size: int) -> None:
    """/metrics goes out in chunks of about 64 KiB, never as one 11 MB buffer."""
    chunks = list(exporter.encoded_chunks(pieces, size))
    assert b"".join(chunks) == "".join(pieces).encode()
    longest = max((len(p.encode()) for p in pieces), default=0)
    assert all(len(chunk) < 4 * (size + longest) for chunk in chunks)

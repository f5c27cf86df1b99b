"""Windows roll over on the wall clock with no new event, expired buckets are dropped, and rep labels
stay bounded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from agents.entities.state import PartialAggregates, expired_entity
from agents.export.rows import cap_reps
from agents.kpis import kpis_for
from agents.kpis.model import ALL, BucketClock, ContributionBuilder
from agents.kpis.windows import Horizon

WARSAW = ZoneInfo("Europe/Warsaw")


def us(stamp: datetime) -> int:
    return int(stamp.timestamp()) * 1_000_000


def buckets_with_one_lead(created: datetime, clock: BucketClock) -> dict[str, dict[str, int]]:
    out = ContributionBuilder(clock, {})
    out.add("north", "ann", us(created), "lc")
    partial = PartialAggregates()
    partial.apply(out.out)
    return {
        bucket: partial.snapshot(key) for key in partial.buckets for bucket in [key[2]] if key[:2] == ("north", "ann")
    }


def value(series: list, metric: str, window: str) -> float:
    return next(v for m, labels, v in series if m == metric and labels.get("window") == window)


def test_today_reads_zero_after_local_midnight_without_a_new_event() -> None:
    kpis = kpis_for(WARSAW, 300_000_000)
    series_for = kpis.series_for
    created = datetime(2026, 11, 24, 23, 50, tzinfo=WARSAW)
    buckets = buckets_with_one_lead(created, kpis.clock)
    before = list(series_for("north", "ann", buckets, now_us=us(created + timedelta(minutes=5))))
    after = list(series_for("north", "ann", buckets, now_us=us(created + timedelta(minutes=15))))
    assert value(before, "salesfloor_leads_created", "today") == 1
    assert value(after, "salesfloor_leads_created", "today") == 0
    assert value(after, "salesfloor_leads_created", "month") == 1
    assert value(after, "salesfloor_leads_created", "last_60m") == 1
    later = list(series_for("north", "ann", buckets, now_us=us(created + timedelta(minutes=61))))
    assert value(later, "salesfloor_leads_created", "last_60m") == 0
    next_month = list(series_for("north", "ann", buckets, now_us=us(created + timedelta(days=7))))
    assert value(next_month, "salesfloor_leads_created", "month") == 0


def test_horizon_keeps_retained_days_months_and_recent_minutes() -> None:
    clock = BucketClock(ZoneInfo("UTC"))
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    horizon = Horizon.at(us(now), 40 * 86400 * 1_000_000, clock)
    assert horizon.first_day == "d2026-10-16"
    assert horizon.keeps("d2026-10-16") and not horizon.keeps("d2026-10-15")
    assert horizon.keeps("p2026-10") and not horizon.keeps("p2026-09")
    minute = us(now) // 60_000_000
    assert horizon.keeps(f"m{minute - 119}") and not horizon.keeps(f"m{minute - 121}")
    assert horizon.keeps("live")


def test_partial_aggregates_drop_expired_buckets() -> None:
    clock = BucketClock(ZoneInfo("UTC"))
    now = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    out = ContributionBuilder(clock, {})
    out.add("north", "ann", us(now - timedelta(days=45)), "lc")
    out.add("north", "ann", us(now - timedelta(hours=1)), "lc")
    partial = PartialAggregates()
    partial.apply(out.out)
    assert partial.expire(Horizon.at(us(now), 40 * 86400 * 1_000_000, clock)) == 3 * 2  # old day + old minute
    assert all(b >= "d2026-10-16" or b.startswith("m") for _, _, b in partial.buckets)


def test_an_idle_entity_is_forgotten_unless_it_feeds_a_live_gauge() -> None:
    kpis = kpis_for(ZoneInfo("UTC"), 300_000_000)
    old = us(datetime(2026, 9, 1, tzinfo=timezone.utc))
    cutoff = us(datetime(2026, 10, 16, tzinfo=timezone.utc))
    created = {"i": "e1", "y": "lead.created", "a": old, "T": "north", "R": "ann", "L": "L1"}
    call = {
        "i": "e2",
        "y": "call.completed",
        "a": old + 60_000_000,
        "T": "north",
        "R": "ann",
        "L": "L1",
        "C": "c1",
        "d": "outbound",
        "o": "connected",
        "s": 0,
    }
    assert not expired_entity("LL1", [created], cutoff, kpis)  # still awaiting a contact
    assert expired_entity("LL1", [created, call], cutoff, kpis)
    assert not expired_entity("LL1", [created, {**call, "a": cutoff + 1}], cutoff, kpis)


def test_reps_past_the_limit_are_folded_into_other() -> None:
    keys = [("north", ALL), ("north", "ann"), ("north", "bob"), ("south", "cat"), ("south", ALL), (ALL, ALL)]
    kept, folded = cap_reps(keys, max_reps=2)
    assert ("north", "ann") in kept and ("north", "bob") in kept and ("south", "cat") not in kept
    assert folded == {"south": ["cat"]}
    assert cap_reps(keys, max_reps=3) == (keys, {})


def test_reserved_names_do_not_count_toward_the_rep_limit() -> None:
    keys = [("north", ALL), ("north", "_unassigned"), ("north", "ann"), ("north", "bob")]
    assert cap_reps(keys, max_reps=2) == (keys, {})
    kept, folded = cap_reps(keys, max_reps=1)
    assert ("north", "_unassigned") in kept and folded == {"north": ["bob"]}

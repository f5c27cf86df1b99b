"""Today against the same time yesterday (the wallboard's arrows and hourly chart): the time-of-day
buckets `t<YYYY-MM-DD>+<HH>` hold each paced field by minute of the local day, for the team and the
floor only, from `first_pace_day` on, and leave both stages with yesterday. Every expectation is worked
out here from the events, by brute force over the business zone, not with the engine's helpers."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.aggregates.stage import AggregateStage
from agents.aggregates.view import AggregateView
from agents.entities.state import PartialAggregates
from agents.kpis import activity, kpis_for, meetings, response, revenue
from agents.kpis.model import ALL, BucketClock, ContributionBuilder
from agents.kpis.pace import PaceReader, hourly, paced_metrics, same_time_yesterday
from agents.kpis.windows import Horizon
from agents.messages import entity_horizon, expiry_request, history_horizon
from streams.kafka.buffered import MemoryTable
from tests.unit.test_engine_vs_reference import unexpected

WARSAW = ZoneInfo("Europe/Warsaw")
KOLKATA = ZoneInfo("Asia/Kolkata")
ADELAIDE = ZoneInfo("Australia/Adelaide")
MINUTE = timedelta(minutes=1)
PACED = frozenset({revenue.WON, revenue.WON_AMOUNT, activity.CALLS_OUTBOUND, activity.EMAILS_SENT,
                   response.RESPONDED, meetings.HELD})  # fmt: skip


def us(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def local_date(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def minute_of_day(moment: datetime, zone: ZoneInfo) -> int:
    """Whole minutes since the first instant of the moment's local date: walk back minute by minute."""
    day, start = local_date(moment, zone), moment.replace(second=0, microsecond=0)
    while local_date(start - MINUTE, zone) == day:
        start -= MINUTE
    while local_date(start, zone) != day:  # the day began within the minute (a zone with seconds in its offset)
        start += timedelta(seconds=1)
    return int((moment - start).total_seconds() // 60)


def expected(events: list[tuple[str, str, datetime, str, int]], zone: ZoneInfo, first: str = "") -> Counter[Any]:
    """What the time-of-day buckets must hold: (team, bucket, field@minute) -> sum, team and floor."""
    want: Counter[Any] = Counter()
    for team, _rep, moment, field, value in events:
        day = local_date(moment, zone).isoformat()
        if day < first:
            continue
        minute = minute_of_day(moment, zone)
        for level in (team, ALL):
            want[(level, f"t{day}+{minute // 60:02d}", f"{field}@{minute}")] += value
    return +want


def built(events: list[tuple[str, str, datetime, str, int]], clock: BucketClock) -> Counter[Any]:
    out = ContributionBuilder(clock, {}, PACED)
    for team, rep, moment, field, value in events:
        out.add(team, rep, us(moment), field, value)
    got: Counter[Any] = Counter()
    for (team, rep, bucket, name), value in out.out.items():
        if bucket.startswith("t"):
            assert rep == ALL, "a rep has no time-of-day buckets"
            got[(team, bucket, name)] += value
    return got


def at(zone: ZoneInfo, *fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=zone, fold=fold).astimezone(timezone.utc)


def test_the_paced_fields_are_the_main_tiles_kpis() -> None:
    kpis = kpis_for(WARSAW, 300_000_000)
    assert kpis.paced == PACED
    assert all(set(family.paced) <= set(family.fields) for family in kpis.families)
    assert set(paced_metrics(kpis.paced)) == {"won_amount", "deals_won", "calls_outbound", "emails_sent",
                                              "leads_responded", "meetings_held"}  # fmt: skip


def test_minutes_of_a_25_hour_day_keep_both_passes_of_the_repeated_hour() -> None:
    events = [
        ("north", "ann", at(WARSAW, 2026, 10, 25, 0, 0), activity.CALLS_OUTBOUND, 1),
        ("north", "ann", at(WARSAW, 2026, 10, 25, 2, 30, fold=0), activity.CALLS_OUTBOUND, 1),
        ("north", "bob", at(WARSAW, 2026, 10, 25, 2, 30, fold=1), activity.CALLS_OUTBOUND, 1),
        ("south", "cat", at(WARSAW, 2026, 10, 25, 2, 59, fold=1), revenue.WON_AMOUNT, 7_000_000),
        ("south", "cat", at(WARSAW, 2026, 10, 25, 23, 59, 59), activity.EMAILS_SENT, 1),
        ("north", "ann", at(WARSAW, 2026, 10, 25, 12, 0), "lc", 1),  # not paced
    ]
    clock = BucketClock(WARSAW)
    got = built(events, clock)
    assert got == expected([e for e in events if e[3] in PACED], WARSAW)
    assert got[("north", "t2026-10-25+02", "co@150")] == 1 and got[("north", "t2026-10-25+03", "co@210")] == 1
    assert got[("south", "t2026-10-25+24", "es@1499")] == 1  # the 25th hour


def test_minutes_of_a_23_hour_day_and_of_half_hour_zones() -> None:
    events = [
        ("north", "ann", at(WARSAW, 2026, 3, 29, 1, 59), activity.CALLS_OUTBOUND, 1),
        ("north", "ann", at(WARSAW, 2026, 3, 29, 3, 0), activity.CALLS_OUTBOUND, 1),  # right after the gap
        ("north", "ann", at(WARSAW, 2026, 3, 29, 23, 59), activity.CALLS_OUTBOUND, 1),
    ]
    assert built(events, BucketClock(WARSAW)) == expected(events, WARSAW)
    assert built(events, BucketClock(WARSAW))[("north", "t2026-03-29+02", "co@120")] == 1
    india = [  # local midnight is at 18:30 UTC, inside a UTC hour
        ("north", "ann", datetime(2026, 12, 1, 18, 29, 59, tzinfo=timezone.utc), activity.EMAILS_SENT, 1),
        ("north", "ann", datetime(2026, 12, 1, 18, 30, tzinfo=timezone.utc), activity.EMAILS_SENT, 1),
        ("north", "ann", datetime(2026, 12, 1, 18, 59, tzinfo=timezone.utc), activity.EMAILS_SENT, 1),
    ]
    got = built(india, BucketClock(KOLKATA))
    assert got == expected(india, KOLKATA)
    assert set(got) == {("north", "t2026-12-01+23", "es@1439"), ("north", "t2026-12-02+00", "es@0"),
                        ("north", "t2026-12-02+00", "es@29"), (ALL, "t2026-12-01+23", "es@1439"),
                        (ALL, "t2026-12-02+00", "es@0"), (ALL, "t2026-12-02+00", "es@29")}  # fmt: skip
    adelaide = [  # +10:30 to +9:30 at 03:00 local on 5 April, +9:30 to +10:30 at 02:00 on 4 October
        ("north", "ann", at(ADELAIDE, 2026, 4, 5, 2, 45, fold=0), meetings.HELD, 1),
        ("north", "ann", at(ADELAIDE, 2026, 4, 5, 2, 45, fold=1), meetings.HELD, 1),
        ("north", "ann", at(ADELAIDE, 2026, 10, 4, 3, 15), meetings.HELD, 1),
    ]
    got = built(adelaide, BucketClock(ADELAIDE))
    assert got == expected(adelaide, ADELAIDE)
    assert ("north", "t2026-04-05+03", "mh@225") in got and ("north", "t2026-10-04+02", "mh@135") in got


@settings(max_examples=60, deadline=None)
@given(
    zone=st.sampled_from([WARSAW, KOLKATA, ADELAIDE, ZoneInfo("America/Havana"), ZoneInfo("Asia/Kathmandu")]),
    seconds=st.lists(st.integers(0, 366 * 86400 - 1), min_size=1, max_size=8),
)
def test_minute_of_day_against_brute_force(zone: ZoneInfo, seconds: list[int]) -> None:
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    events = [("north", "ann", start + timedelta(seconds=s), revenue.WON, 1) for s in seconds]
    assert built(events, BucketClock(zone)) == expected(events, zone)


def test_days_before_first_pace_day_are_not_paced() -> None:
    events = [
        ("north", "ann", at(WARSAW, 2026, 12, 1, 23, 59), activity.CALLS_OUTBOUND, 1),
        ("north", "ann", at(WARSAW, 2026, 12, 2, 0, 0), activity.CALLS_OUTBOUND, 1),
        ("north", "ann", at(WARSAW, 2026, 12, 3, 9, 0), activity.CALLS_OUTBOUND, 1),
    ]
    clock = BucketClock(WARSAW)
    assert built(events, clock) == expected(events, WARSAW)  # empty: every day
    clock.first_pace_day = Horizon.pace_day(us(at(WARSAW, 2026, 12, 3, 10, 0)), clock)
    assert clock.first_pace_day == "2026-12-02"
    assert built(events, clock) == expected(events, WARSAW, first="2026-12-02")
    assert {bucket for _, bucket, _ in built(events, clock)} == {"t2026-12-02+00", "t2026-12-03+09"}
    clock.first_pace_day = "9999-12-31"  # off
    assert built(events, clock) == Counter()
    # the day buckets are not affected
    out = ContributionBuilder(clock, {}, PACED)
    out.add("north", "ann", us(events[0][2]), activity.CALLS_OUTBOUND)
    assert out.out[("north", "ann", "d2026-12-01", activity.CALLS_OUTBOUND)] == 1


def test_time_of_day_buckets_before_yesterday_expire_in_both_stages() -> None:
    clock = BucketClock(WARSAW)
    now = at(WARSAW, 2026, 12, 3, 0, 30)
    out = ContributionBuilder(clock, {}, PACED)
    for moment in (at(WARSAW, 2026, 12, 1, 23, 59), at(WARSAW, 2026, 12, 2, 0, 1), now):
        out.add("north", "ann", us(moment), activity.CALLS_OUTBOUND)
    partial = PartialAggregates()
    partial.apply(out.out)
    request = expiry_request(us(now), 40 * 86_400_000_000, 62, clock)
    assert request["pace_day"] == "2026-12-02"
    for horizon in (Horizon.at(us(now), 40 * 86_400_000_000, clock), entity_horizon(request), history_horizon(request)):
        assert horizon.first_pace_day == "2026-12-02"
        assert not horizon.keeps("t2026-12-01+23")
        assert horizon.keeps("t2026-12-02+00") and horizon.keeps("t2026-12-03+00")
        assert horizon.keeps("d2026-12-01")  # the day itself stays
    paced = {key for key in partial.buckets if key[2].startswith("t")}
    partial.expire(entity_horizon(request))
    assert paced - set(partial.buckets) == {("north", ALL, "t2026-12-01+23"), (ALL, ALL, "t2026-12-01+23")}
    assert {key[2] for key in partial.buckets if key[2].startswith("t")} == {"t2026-12-02+00", "t2026-12-03+00"}
    view = AggregateView()
    stage = AggregateStage(MemoryTable(), view, foreign=unexpected)
    for version, (team, rep, bucket) in enumerate(sorted(paced)):
        fields = {str(n): v for (t, r, b, n), v in out.out.items() if (t, r, b) == (team, rep, bucket)}
        stage.apply(0, version, {"s": [[0, version, team, rep, bucket, fields]]})
    stage.expire(0, history_horizon(request))
    assert sorted(b for b in view.buckets[("north", ALL)] if b.startswith("t")) == ["t2026-12-02+00", "t2026-12-03+00"]
    older = {k: v for k, v in request.items() if k != "pace_day"}  # a request of an older version: the retention
    assert history_horizon(older).keeps("t2026-11-01+00")  # type: ignore[arg-type]


def paced_buckets(events: list[tuple[str, str, datetime, str, int]], clock: BucketClock) -> dict[str, dict[str, int]]:
    out = ContributionBuilder(clock, {}, PACED)
    for team, rep, moment, field, value in events:
        out.add(team, rep, us(moment), field, value)
    buckets: dict[str, dict[str, int]] = {}
    for (team, _rep, bucket, name), value in out.out.items():
        if team == "north" and bucket.startswith("t"):
            buckets.setdefault(bucket, {})[str(name)] = value
    return buckets


def test_yesterday_up_to_the_same_local_time_and_today_by_hour() -> None:
    clock = BucketClock(WARSAW)
    now = at(WARSAW, 2026, 12, 2, 10, 15, 30)
    events = [
        ("north", "ann", at(WARSAW, 2026, 12, 1, 0, 0), activity.CALLS_OUTBOUND, 1),
        ("north", "ann", at(WARSAW, 2026, 12, 1, 10, 15, 59), activity.CALLS_OUTBOUND, 1),  # the same minute
        ("north", "ann", at(WARSAW, 2026, 12, 1, 10, 16), activity.CALLS_OUTBOUND, 1),  # later: not counted
        ("north", "ann", at(WARSAW, 2026, 12, 1, 9, 0), revenue.WON_AMOUNT, 2_500_000),
        ("north", "ann", at(WARSAW, 2026, 12, 2, 9, 5), revenue.WON_AMOUNT, 1_000_000),
        ("north", "ann", at(WARSAW, 2026, 12, 2, 9, 59), activity.CALLS_OUTBOUND, 1),
        ("north", "ann", at(WARSAW, 2026, 12, 2, 10, 1), activity.CALLS_OUTBOUND, 1),
        ("north", "ann", at(WARSAW, 2026, 12, 2, 10, 17), activity.CALLS_OUTBOUND, 1),  # a little ahead of now
    ]
    buckets = paced_buckets(events, clock)
    metrics = paced_metrics(PACED)
    cut = now.astimezone(WARSAW).replace(year=2026, day=1, second=59)
    want_calls = sum(1 for _, _, m, f, _ in events if f == "co" and m.astimezone(WARSAW).date() == date(2026, 12, 1)
                     and m.astimezone(WARSAW) <= cut)  # fmt: skip
    yesterday = same_time_yesterday(buckets, us(now), clock, metrics)
    assert yesterday["calls_outbound"] == want_calls == 2
    assert yesterday["won_amount"] == 2.5 and yesterday["emails_sent"] == 0
    hours = hourly(buckets, us(now), clock, {m: metrics[m] for m in ("won_amount", "calls_outbound")})
    assert [h["hour"] for h in hours] == [f"{h:02d}:00" for h in range(11)]
    assert hours[9] == {"hour": "09:00", "start": "2026-12-02T08:00:00Z", "won_amount": 1.0, "calls_outbound": 1}
    assert hours[10]["calls_outbound"] == 1 and sum(h["won_amount"] for h in hours) == 1.0
    reader = PaceReader()  # the board's: sums kept per bucket until it changes
    document = reader.document("north", buckets, us(now), clock, PACED)
    assert document == {"yesterday": yesterday, "hourly": hours}
    assert reader.document("north", buckets, us(now), clock, PACED) == document
    changed = {**buckets, "t2026-12-02+09": {**buckets["t2026-12-02+09"], "wa@550": 2_000_000}}  # a win at 09:10
    assert reader.document("north", changed, us(now), clock, PACED)["hourly"][9]["won_amount"] == 3.0


def test_hours_of_a_dst_day_and_yesterday_across_one() -> None:
    clock = BucketClock(WARSAW)
    events = [
        ("north", "ann", at(WARSAW, 2026, 10, 25, 2, 10, fold=0), activity.CALLS_OUTBOUND, 1),
        ("north", "ann", at(WARSAW, 2026, 10, 25, 2, 20, fold=1), activity.CALLS_OUTBOUND, 2),
        ("north", "ann", at(WARSAW, 2026, 10, 25, 2, 40, fold=1), activity.CALLS_OUTBOUND, 4),
    ]
    buckets = paced_buckets(events, clock)
    metrics = {"calls_outbound": paced_metrics(PACED)["calls_outbound"]}
    hours = hourly(buckets, us(at(WARSAW, 2026, 10, 25, 23, 0)), clock, metrics)
    assert len(hours) == 25 and [h["hour"] for h in hours[:5]] == ["00:00", "01:00", "02:00", "02:00", "03:00"]
    assert [h["calls_outbound"] for h in hours[2:4]] == [1, 6]
    assert hours[3]["start"] == "2026-10-25T01:00:00Z"
    # the next day at 02:30: yesterday up to its later 02:30; a day after a skipped hour: up to the gap
    assert same_time_yesterday(buckets, us(at(WARSAW, 2026, 10, 26, 2, 30)), clock, metrics)["calls_outbound"] == 3
    assert len(hourly({}, us(at(WARSAW, 2026, 3, 29, 23, 30)), clock, metrics)) == 23
    around_the_gap = [at(WARSAW, 2026, 3, 29, 1, 59), at(WARSAW, 2026, 3, 29, 3, 0)]
    spring = paced_buckets([("north", "ann", m, activity.CALLS_OUTBOUND, 1) for m in around_the_gap], clock)
    assert same_time_yesterday(spring, us(at(WARSAW, 2026, 3, 30, 2, 30)), clock, metrics)["calls_outbound"] == 1

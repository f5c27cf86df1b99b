"""From accumulated fields to the KPI values of SPEC §4, for each window."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache

from agents import activity as act
from agents import leads as ld
from agents import revenue as rv
from agents.contributions import ALL, LIVE, MINUTE_US, BucketClock, response_bucket_value
from agents.entity_state import OLDEST_AWAITING

Fields = Mapping[str, int]
Series = tuple[str, dict[str, str], float]
WINDOWS = ("today", "month", "last_60m")
MICRO = 1_000_000

# metric name, field, scale (micro-units to base units)
COUNTS: tuple[tuple[str, str, int], ...] = (
    ("salesfloor_leads_created", ld.CREATED, 1),
    ("salesfloor_leads_responded", ld.RESPONDED, 1),
    ("salesfloor_leads_followed_up", ld.FOLLOWED_UP, 1),
    ("salesfloor_leads_converted", ld.CONVERTED, 1),
    ("salesfloor_opportunities_opened", rv.OPPORTUNITIES, 1),
    ("salesfloor_deals_won", rv.WON, 1),
    ("salesfloor_deals_lost", rv.LOST, 1),
    ("salesfloor_won_amount", rv.WON_AMOUNT, MICRO),
    ("salesfloor_lost_amount", rv.LOST_AMOUNT, MICRO),
    ("salesfloor_calls_outbound", act.CALLS_OUTBOUND, 1),
    ("salesfloor_calls_connected", act.CALLS_CONNECTED, 1),
    ("salesfloor_talk_time_seconds", act.TALK_TIME_US, MICRO),
    ("salesfloor_emails_sent", act.EMAILS_SENT, 1),
    ("salesfloor_email_replies", act.EMAILS_REPLIED, 1),
)

# metric name, numerator field, denominator fields (summed), numerator scale
RATIOS: tuple[tuple[str, str, tuple[str, ...], int], ...] = (
    ("salesfloor_lead_response_within_sla_ratio", ld.WITHIN_SLA, (ld.RESPONDED,), 1),
    ("salesfloor_follow_up_ratio", ld.FOLLOWED_UP, (ld.RESPONDED,), 1),
    ("salesfloor_contacts_before_conversion_avg", ld.CONTACTS_BEFORE_CONVERSION, (ld.CONVERSIONS,), 1),
    ("salesfloor_lead_conversion_ratio", ld.CONVERTED, (ld.CREATED,), 1),
    ("salesfloor_win_ratio", rv.WON, (rv.WON, rv.LOST), 1),
    ("salesfloor_average_deal_size", rv.WON_AMOUNT, (rv.WON,), MICRO),
    ("salesfloor_sales_cycle_seconds_avg", rv.CYCLE_SUM_US, (rv.CYCLES,), MICRO),
    ("salesfloor_call_connect_ratio", act.CALLS_CONNECTED, (act.CALLS_OUTBOUND,), 1),
    ("salesfloor_email_open_ratio", act.EMAILS_OPENED, (act.EMAILS_SENT,), 1),
    ("salesfloor_email_click_ratio", act.EMAILS_CLICKED, (act.EMAILS_SENT,), 1),
    ("salesfloor_email_reply_ratio", act.EMAILS_REPLIED, (act.EMAILS_SENT,), 1),
)


def window_buckets(window: str, now_us: int, clock: BucketClock, day: date | None = None) -> tuple[str, ...]:
    """Bucket names making up a window: one day, the days of a month, or sixty minutes."""
    if window == "last_60m":
        return minute_buckets(now_us // MINUTE_US)
    today = day or date.fromisoformat(clock.day(now_us)[1:])
    if window == "today":
        return ("d" + today.isoformat(),)
    return month_buckets(today.replace(day=1))


@lru_cache(maxsize=4)  # every team/rep of a scrape asks for the same few
def minute_buckets(current: int) -> tuple[str, ...]:
    return tuple(f"m{m}" for m in range(current - 59, current + 1))


@lru_cache(maxsize=16)
def month_buckets(first: date) -> tuple[str, ...]:
    following = (first + timedelta(days=32)).replace(day=1)
    return tuple("d" + (first + timedelta(days=n)).isoformat() for n in range((following - first).days))


def sum_fields(buckets: Mapping[str, Fields], names: tuple[str, ...]) -> dict[str, int]:
    total: dict[str, int] = {}
    for name in names:
        fields = buckets.get(name)
        if fields:
            for key, value in fields.items():
                total[key] = total.get(key, 0) + value
    return total


def windowed(acc: Mapping[str, int], labels: dict[str, str]) -> Iterator[Series]:
    """Every windowed KPI of one team/rep/window from its summed fields."""
    for metric, name, scale in COUNTS:
        yield metric, labels, acc.get(name, 0) / scale
    for metric, num, dens, scale in RATIOS:
        denominator = sum(acc.get(d, 0) for d in dens)
        if denominator > 0:
            yield metric, labels, acc.get(num, 0) / scale / denominator
    responded = acc.get(ld.RESPONDED, 0)
    if responded > 0:
        stats = response_stats(acc, responded)
        for stat, value in stats.items():
            yield "salesfloor_lead_response_seconds", {**labels, "stat": stat}, value


def response_stats(acc: Mapping[str, int], responded: int) -> dict[str, float]:
    """avg exactly; p50, p90 and max by nearest rank over the response histogram."""
    prefix = ld.RESPONSE_HISTOGRAM
    histogram = sorted(
        (int(name[len(prefix):]), count) for name, count in acc.items() if name.startswith(prefix) and count > 0
    )
    stats = {"avg": acc.get(ld.RESPONSE_SUM_US, 0) / MICRO / responded}
    for stat, share in (("p50", 0.5), ("p90", 0.9)):
        rank = max(1, -(-responded * int(share * 100) // 100))  # ceil(share * n) in integers
        seen = 0
        for index, count in histogram:
            seen += count
            if seen >= rank:
                stats[stat] = response_bucket_value(index)
                break
    if histogram:
        stats["max"] = response_bucket_value(histogram[-1][0])
    return stats


def series_for(
    team: str, rep: str, buckets: Mapping[str, Fields], *, now_us: int, clock: BucketClock,
    day: date | None = None,
) -> Iterator[Series]:
    """All series of one team/rep: every window, the month target, and the live gauges."""
    windows = ("today", "month") if day is not None else WINDOWS
    for window in windows:
        labels = {"team": team, "rep": rep, "window": window}
        acc = sum_fields(buckets, window_buckets(window, now_us, clock, day))
        yield from windowed(acc, labels)
        if window == "month" and team != ALL:
            yield from targets(acc, buckets, labels, now_us, clock, day)
    if day is not None:
        return
    live = buckets.get(LIVE, {})
    yield "salesfloor_leads_awaiting_response", {"team": team, "rep": rep}, float(live.get(ld.AWAITING, 0))
    yield "salesfloor_pipeline_open_amount", {"team": team, "rep": rep}, live.get(rv.PIPELINE_OPEN, 0) / MICRO
    if rep == ALL:
        oldest = live.get(OLDEST_AWAITING)
        age = max(0.0, (now_us - oldest) / MICRO) if oldest is not None else 0.0
        yield "salesfloor_lead_oldest_awaiting_seconds", {"team": team}, age


def targets(
    month_acc: Mapping[str, int], buckets: Mapping[str, Fields], labels: dict[str, str],
    now_us: int, clock: BucketClock, day: date | None,
) -> Iterator[Series]:
    period = (day.isoformat() if day else clock.day(now_us)[1:])[:7]
    target = buckets.get("p" + period, {}).get(rv.TARGET)
    if target is None:
        return
    yield "salesfloor_target_amount", labels, target / MICRO
    if target > 0:
        yield "salesfloor_quota_attainment_ratio", labels, month_acc.get(rv.WON_AMOUNT, 0) / target


def now_us() -> int:
    delta = datetime.now(timezone.utc) - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * MICRO + delta.microseconds

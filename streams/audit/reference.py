"""Reference computation of every KPI of SPEC §4: the independent oracle.

This module recomputes all KPIs from a complete event log in one plain-Python batch pass (steps 1
and 2 below are in ``streams.audit.views``). It is the oracle the integration tests compare the
streaming engine (``agents/``) with, and it backs the ``salesfloor recompute FILE.jsonl`` command.
Like all of ``streams.audit`` it deliberately imports nothing from ``agents/`` (nothing but the
standard library) and shares no KPI logic with it: both follow SPEC.md and docs/kpi-rules.md,
written independently.

It favours clarity over speed:

1. parse the events (times as integer microseconds since the epoch), drop late events, future
   events, unknown deal stages and invalid calendars, then duplicates (first occurrence in arrival
   order wins);
2. replay them in event-time order (ties by ``event_id``) into entity views: leads, emails, deals,
   deal stages, meetings, calls, targets and team calendars, so "earliest" is simply "first seen" and
   "latest" is "last seen";
3. turn the views into *facts* (``streams.audit.facts``: a value at a time, attributed to a team and
   rep) collected per (team, rep), team and floor for every window the fact's time falls in;
4. export each KPI from the facts: counts, sums, exact ratios, means and nearest-rank percentiles;
   meetings and deal stages are in ``streams.audit.meetings``, targets and growth in
   ``streams.audit.targets``, the team and floor breakdowns in ``streams.audit.breakdowns``, the
   response times on the SLA clock and from the assignment in ``streams.audit.business`` (business
   time itself in ``streams.audit.calendars``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from streams.audit.breakdowns import breakdown_facts, export_breakdowns
from streams.audit.business import business_facts, export_business, oldest_awaiting_business
from streams.audit.facts import Facts, Key, Labels, Result, all_scopes, key, nearest_rank, rollup
from streams.audit.meetings import entered_stage, meeting_facts, pipeline_by_stage, stage_facts
from streams.audit.targets import export_growth, export_targets
from streams.audit.views import (
    ALL,
    MINUTE_US,
    UNASSIGNED,
    US,
    Views,
    Windows,
    accepted_events,
    build_views,
    parse_time,
    to_us,
)

# parse_time and to_us are re-exported: with compute and format_report they are the oracle's API.
__all__ = ["Key", "Labels", "Result", "compute", "format_report", "nearest_rank", "parse_time", "to_us"]

DEAL_STAGES = ("qualification", "proposal", "negotiation")  # SALESFLOOR_DEAL_STAGES' default


# ------------------------------------------------------------------------------------------ facts


def lead_facts(views: Views, facts: Facts, sla_us: float) -> None:
    for lead in views.leads.values():
        created = lead.created
        if created is None:  # KPIs about leads count only leads whose creation was seen
            continue
        facts.add("created", created.team, lead.owner, created.t)
        if lead.conversion is not None:  # cohort of creation
            facts.add("converted", created.team, lead.owner, created.t)
        if lead.contacts:
            first = lead.contacts[0]
            rep = first.rep or UNASSIGNED  # contacts always carry rep_id
            response_us = max(0, first.t - created.t)
            facts.add("response_us", created.team, rep, first.t, response_us)
            if views.business_us(created.team, created.t, first.t) <= sla_us:  # on the team's SLA clock
                facts.add("within_sla", created.team, rep, first.t)
            if len(lead.contacts) >= 2:
                facts.add("followed_up", created.team, rep, first.t)
        if lead.conversion is not None:
            deal = lead.conversion
            before = sum(1 for contact in lead.contacts if contact.t < deal.t)
            facts.add("contacts_before_conversion", deal.team, deal.rep or UNASSIGNED, deal.t, before)


def deal_facts(views: Views, facts: Facts) -> None:
    for e in views.deal_events:
        rep = e.rep or UNASSIGNED
        if e.type == "deal.created":
            facts.add("opened", e.team, rep, e.t)
        elif e.type == "deal.won":
            facts.add("won", e.team, rep, e.t, float(e.get("amount")))
            created = views.deal_created.get(e.get("deal_id"))
            if created is not None:
                facts.add("cycle_us", e.team, rep, e.t, max(0, e.t - created.t))
        else:
            facts.add("lost", e.team, rep, e.t, float(e.get("amount") or 0))


def call_facts(views: Views, facts: Facts) -> None:
    for e in views.calls:
        rep = e.rep or UNASSIGNED
        connected = e.get("outcome") == "connected"
        if e.get("direction") == "outbound":
            facts.add("calls_outbound", e.team, rep, e.t)
            if connected:
                facts.add("calls_connected", e.team, rep, e.t)
        if connected:
            facts.add("talk_s", e.team, rep, e.t, float(e.get("duration_s")))


def email_facts(views: Views, facts: Facts) -> None:
    for email_id, sent in views.emails.items():
        rep = sent.rep or UNASSIGNED
        facts.add("sent", sent.team, rep, sent.t)
        for action in ("email.opened", "email.clicked", "email.replied", "email.unsubscribed"):
            if email_id in views.email_actions[action]:
                facts.add(action, sent.team, rep, sent.t)


# ----------------------------------------------------------------------------------------- export


def export_scope(
    facts: Facts, team: str, rep: str, window: str, result: Result, stages: tuple[str, ...] = DEAL_STAGES
) -> None:
    """All windowed KPIs of one (team, rep) scope in one window."""

    def get(fact: str) -> list[float]:
        return facts.get(fact, team, rep, window)

    def put(name: str, value: float, **extra: str) -> None:
        result[key(name, team=team, rep=rep, window=window, **extra)] = float(value)

    def ratio(name: str, numerator: float, denominator: float) -> None:
        if denominator > 0:  # a ratio or mean over nothing is not exported
            put(name, numerator / denominator)

    created, converted = len(get("created")), len(get("converted"))
    responses = sorted(get("response_us"))
    within, followed = len(get("within_sla")), len(get("followed_up"))
    won, lost = get("won"), get("lost")
    outbound, connected = len(get("calls_outbound")), len(get("calls_connected"))
    sent, replied = len(get("sent")), len(get("email.replied"))

    # counts and sums: always exported for a scope with data
    put("salesfloor_leads_created", created)
    put("salesfloor_leads_responded", len(responses))
    put("salesfloor_leads_followed_up", followed)
    put("salesfloor_leads_converted", converted)
    put("salesfloor_opportunities_opened", len(get("opened")))
    put("salesfloor_deals_won", len(won))
    put("salesfloor_deals_lost", len(lost))
    put("salesfloor_won_amount", math.fsum(won))
    put("salesfloor_lost_amount", math.fsum(lost))
    put("salesfloor_calls_outbound", outbound)
    put("salesfloor_calls_connected", connected)
    put("salesfloor_talk_time_seconds", math.fsum(get("talk_s")))
    put("salesfloor_emails_sent", sent)
    put("salesfloor_email_replies", replied)
    held, no_show = len(get("meetings_held")), len(get("meetings_no_show"))
    put("salesfloor_meetings_scheduled", len(get("meetings_scheduled")))
    put("salesfloor_meetings_held", held)
    put("salesfloor_meetings_no_show", no_show)
    for stage in stages:
        put("salesfloor_deals_entered_stage", entered_stage(facts, stage, team, rep, window), stage=stage)

    # ratios, averages, percentiles: only with a denominator > 0
    if responses:
        put("salesfloor_lead_response_seconds", sum(responses) / len(responses) / US, stat="avg")
        put("salesfloor_lead_response_seconds", nearest_rank(responses, 50) / US, stat="p50")
        put("salesfloor_lead_response_seconds", nearest_rank(responses, 90) / US, stat="p90")
        put("salesfloor_lead_response_seconds", responses[-1] / US, stat="max")
    ratio("salesfloor_lead_response_within_sla_ratio", within, len(responses))
    ratio("salesfloor_follow_up_ratio", followed, len(responses))
    before = get("contacts_before_conversion")
    ratio("salesfloor_contacts_before_conversion_avg", sum(before), len(before))
    ratio("salesfloor_lead_conversion_ratio", converted, created)
    ratio("salesfloor_win_ratio", len(won), len(won) + len(lost))
    ratio("salesfloor_average_deal_size", math.fsum(won), len(won))
    ratio("salesfloor_deals_per_1000_calls", len(won) * 1000, outbound)
    ratio("salesfloor_won_amount_per_talk_hour", math.fsum(won) * 3600, math.fsum(get("talk_s")))
    cycles = get("cycle_us")
    ratio("salesfloor_sales_cycle_seconds_avg", sum(cycles) / US, len(cycles))
    ratio("salesfloor_call_connect_ratio", connected, outbound)
    ratio("salesfloor_email_open_ratio", len(get("email.opened")), sent)
    ratio("salesfloor_email_click_ratio", len(get("email.clicked")), sent)
    ratio("salesfloor_email_reply_ratio", replied, sent)
    ratio("salesfloor_email_unsubscribe_ratio", len(get("email.unsubscribed")), sent)
    ratio("salesfloor_meeting_show_ratio", held, held + no_show)
    ratio("salesfloor_meeting_to_deal_ratio", len(get("met_leads_converted")), len(get("met_leads")))


def live_gauges(views: Views, now_us: int, scopes: set[tuple[str, str]], result: Result) -> None:
    """Awaiting leads, oldest awaiting age and open pipeline, as of now. Adds their scopes."""
    awaiting: dict[tuple[str, str], int] = defaultdict(int)
    oldest: dict[str, int] = {}  # team (and ALL) -> earliest creation among awaiting leads
    for lead in views.leads.values():
        created = lead.created
        if created is None or lead.contacts or lead.disqualified or lead.conversion is not None:
            continue
        scopes.add((created.team, lead.current_owner))
        for scope in rollup(created.team, lead.current_owner):
            awaiting[scope] += 1
        for team in (created.team, ALL):
            oldest[team] = min(oldest.get(team, created.t), created.t)

    pipeline: dict[tuple[str, str], list[float]] = defaultdict(list)
    for deal_id, e in views.deal_created.items():
        if deal_id not in views.deals_closed:
            scopes.add((e.team, e.rep or UNASSIGNED))
            for scope in rollup(e.team, e.rep or UNASSIGNED):
                pipeline[scope].append(float(e.get("amount")))

    for team, rep in all_scopes(scopes):
        result[key("salesfloor_leads_awaiting_response", team=team, rep=rep)] = float(awaiting[(team, rep)])
        result[key("salesfloor_pipeline_open_amount", team=team, rep=rep)] = math.fsum(pipeline[(team, rep)])
        if rep == ALL:
            age_us = max(0, now_us - oldest[team]) if team in oldest else 0
            result[key("salesfloor_lead_oldest_awaiting_seconds", team=team)] = age_us / US


# -------------------------------------------------------------------------------------------- API


def compute(
    events: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    tz: str = "UTC",
    sla_s: float = 300.0,
    retention_s: float = 40 * 86400,
    day: date | None = None,
    max_future_s: float = 300.0,
    stages: tuple[str, ...] = DEAL_STAGES,
) -> Result:
    """Every KPI series of SPEC §4 from valid events in arrival order.

    Returns ``{(metric_name, ((label, value), ...sorted by label)): value}``. With ``day`` the
    ``today``/``month`` windows are that local date and its month, and ``last_60m`` and the live
    gauges are omitted. Events stamped more than ``max_future_s`` (``inf``: none) after ``now``, and
    ``deal.stage_changed`` events to a stage not in ``stages`` (``SALESFLOOR_DEAL_STAGES``), are
    rejected as the engine rejects them.
    """
    now_us = to_us(now)
    zone = ZoneInfo(tz)
    if day is None:
        windows = Windows(zone, now.astimezone(zone).date(), now_us // MINUTE_US)
    else:
        windows = Windows(zone, day, None)

    stages = tuple(stages)
    max_future_us = None if math.isinf(max_future_s) else round(max_future_s * US)
    accepted = accepted_events(events, now_us, round(retention_s * US), max_future_us=max_future_us, stages=stages)
    views = build_views(accepted)
    facts = Facts(windows)
    lead_facts(views, facts, sla_s * US)
    deal_facts(views, facts)
    call_facts(views, facts)
    email_facts(views, facts)
    meeting_facts(views, facts)
    stage_facts(views, facts)
    breakdown_facts(views, facts)
    business_facts(views, facts)

    result: Result = {}
    scopes = set(facts.scopes)
    if day is None:
        live_gauges(views, now_us, scopes, result)
        pipeline_by_stage(views, {team for team, _rep in all_scopes(scopes)}, stages, result)
        oldest_awaiting_business(views, now_us, {team for team, _rep in all_scopes(scopes)}, result)
    for team, rep in all_scopes(scopes):
        for window in windows.names:
            export_scope(facts, team, rep, window, result, stages)
            export_business(facts, team, rep, window, result)
    export_breakdowns(facts, {team for team, _rep in all_scopes(scopes)}, result)
    export_targets(views, facts, result)
    export_growth(views, facts, now.astimezone(zone), scopes, result)
    return result


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)


def format_report(result: Mapping[Key, float]) -> str:
    """Prometheus-like text, one ``name{label="value",...} value`` line per series, sorted."""
    lines = []
    for (name, labels), value in result.items():
        rendered = ",".join(f'{label}="{_escape(text)}"' for label, text in labels)
        lines.append(f"{name}{{{rendered}}} {_number(value)}" if labels else f"{name} {_number(value)}")
    return "".join(line + "\n" for line in sorted(lines))

"""Compare exported KPI series with the reference computation, with the tolerances of the issues:
counts exactly, sums to 1e-12 relative (order of float addition), ratios and averages to 1e-9
relative, response percentiles within 1 % or 1 s, wall-clock ages within a few seconds."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from prometheus_client.parser import text_string_to_metric_families

Labels = tuple[tuple[str, str], ...]
Key = tuple[str, Labels]

COUNTS = {
    "salesfloor_leads_created",
    "salesfloor_leads_responded",
    "salesfloor_leads_followed_up",
    "salesfloor_leads_converted",
    "salesfloor_opportunities_opened",
    "salesfloor_deals_won",
    "salesfloor_deals_lost",
    "salesfloor_calls_outbound",
    "salesfloor_calls_connected",
    "salesfloor_emails_sent",
    "salesfloor_email_replies",
    "salesfloor_leads_awaiting_response",
    "salesfloor_meetings_scheduled",
    "salesfloor_meetings_held",
    "salesfloor_meetings_no_show",
    "salesfloor_deals_entered_stage",
}
SUMS = {
    "salesfloor_won_amount",
    "salesfloor_lost_amount",
    "salesfloor_talk_time_seconds",
    "salesfloor_pipeline_open_amount",
    "salesfloor_pipeline_open_amount_by_stage",
    "salesfloor_target_amount",
    "salesfloor_target_value",
}
# a target that was never set is not a target of 0
ZERO_WHEN_MISSING = COUNTS | (SUMS - {"salesfloor_target_amount", "salesfloor_target_value"})


AGES = {"salesfloor_lead_oldest_awaiting_seconds", "salesfloor_lead_oldest_awaiting_business_seconds"}
PERCENTILES = {  # from histograms: within 1 % or 1 s
    "salesfloor_lead_response_seconds",
    "salesfloor_lead_response_business_seconds",
    "salesfloor_lead_assignment_response_seconds",
}


def key(name: str, labels: Mapping[str, str]) -> Key:
    return name, tuple(sorted(labels.items()))


def parse_metrics(text: str, prefix: str = "salesfloor_") -> dict[Key, float]:
    """KPI series from a Prometheus text exposition (gauges only, counters and histograms skipped)."""
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        if family.type != "gauge" or not family.name.startswith(prefix):
            continue
        for sample in family.samples:
            k = key(sample.name, sample.labels)
            assert k not in out, f"series exported twice: {k}"
            out[k] = sample.value
    return out


def close(name: str, labels: Mapping[str, str], got: float, want: float, age_tolerance: float) -> bool:
    if name in COUNTS:
        return got == want
    if name in SUMS:
        return math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-9)
    if name in AGES:
        return abs(got - want) <= age_tolerance
    if name in PERCENTILES and labels.get("stat") != "avg":
        return abs(got - want) <= max(1.0, 0.01 * abs(want))
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)


def differences(
    got: Mapping[Key, float],
    want: Mapping[Key, float],
    *,
    age_tolerance: float = 5.0,
    only: Iterable[str] | None = None,
) -> list[str]:
    """Human-readable differences; empty when the two agree."""
    names = set(only) if only is not None else None
    problems: list[str] = []
    for k in sorted(set(got) | set(want)):
        name, labels = k[0], dict(k[1])
        if names is not None and name not in names:
            continue
        g, w = got.get(k), want.get(k)
        if g is None or w is None:
            if name in ZERO_WHEN_MISSING and (g or 0.0) == (w or 0.0):
                continue
            problems.append(f"{name}{labels}: exported={g} reference={w}")
            continue
        if not close(name, labels, g, w, age_tolerance):
            problems.append(f"{name}{labels}: exported={g} reference={w}")
    return problems

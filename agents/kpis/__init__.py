"""The KPIs of SPEC §4, one module per family; `families` is the one list that registers them.

Adding a KPI touches its family's module (fields, contribution, series), the contract and the tests:
see docs/architecture.md, "How to add a KPI"."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from agents.kpis import (
    activity,
    breakdowns,
    conversion,
    follow_up,
    meetings,
    productivity,
    response,
    revenue,
    targets,
)
from agents.kpis.model import BucketClock, Family
from agents.kpis.series import Kpis
from streams.records import DEFAULT_STAGES


def families(sla_us: int, stages: tuple[str, ...] = DEFAULT_STAGES) -> tuple[Family, ...]:
    """Every KPI family, in the order their series are exported."""
    return (
        response.family(sla_us),
        follow_up.FAMILY,
        conversion.FAMILY,
        activity.FAMILY,
        meetings.FAMILY,
        revenue.family(stages),
        productivity.FAMILY,
        targets.FAMILY,
        breakdowns.FAMILY,
    )


def kpis_for(zone: ZoneInfo, sla_us: int, stages: tuple[str, ...] = DEFAULT_STAGES) -> Kpis:
    """Every family, for one business time zone, lead-response SLA and list of deal stages."""
    return Kpis(families(sla_us, stages), BucketClock(zone))

"""The KPIs of SPEC §4, one module per family; `families` is the one list that registers them.

Adding a KPI touches its family's module (fields, contribution, series), the contract and the tests:
see docs/architecture.md, "How to add a KPI"."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from agents.kpis import activity, conversion, follow_up, response, revenue
from agents.kpis.model import BucketClock, Family
from agents.kpis.series import Kpis


def families(sla_us: int) -> tuple[Family, ...]:
    """Every KPI family, in the order their series are exported."""
    return (response.family(sla_us), follow_up.FAMILY, conversion.FAMILY, activity.FAMILY, revenue.FAMILY)


def kpis_for(zone: ZoneInfo, sla_us: int) -> Kpis:
    """Every family, for one business time zone and lead-response SLA."""
    return Kpis(families(sla_us), BucketClock(zone))

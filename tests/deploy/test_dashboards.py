"""Grafana dashboards and Prometheus rules read only metrics and labels the worker exports (SPEC §4-§6).

The allowed metrics and labels come from SPEC.md itself (found through SALESFLOOR_SPEC, else
../shared/SPEC.md beside the repository), read the way shared/tools/check-metrics reads it.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import REPO, load_yaml
from tests.deploy.promql import reads

DASHBOARDS = REPO / "deploy" / "grafana" / "dashboards"
RULES = "deploy/prometheus/rules/salesfloor.rules.yml"
DATASOURCES = "deploy/grafana/provisioning/datasources/prometheus.yml"
PROVIDERS = "deploy/grafana/provisioning/dashboards/salesfloor.yml"
WINDOWED = {"team", "rep", "window"}
TARGET_LABELS = {"job", "instance"}  # added by Prometheus to every scraped series
HISTOGRAM = "salesfloor_event_delay_seconds"
# Exported besides the contract: consumer lag (SPEC §6 leaves its name open) and Prometheus' own `up`.
EXTRAS = {"salesfloor_consumer_lag": {"topic", "partition"}, "up": set()}
Allowed = dict[str, set[str]]


def spec_text() -> str:
    path = Path(os.environ.get("SALESFLOOR_SPEC") or REPO.parent / "shared" / "SPEC.md")
    if not path.is_file():
        pytest.fail(f"SPEC.md not found at {path}: set SALESFLOOR_SPEC to the contract's path", pytrace=False)
    return path.read_text(encoding="utf-8")


def spelled_names(text: str) -> set[str]:
    names = set(re.findall(r"`(salesfloor_[a-z0-9_]+)", text))
    # "salesfloor_email_open_ratio` / `_click_ratio` / `_reply_ratio`" spells two names by suffix.
    if "salesfloor_email_open_ratio" in names:
        names |= {"salesfloor_email_click_ratio", "salesfloor_email_reply_ratio"}
    return names


def contract(text: str) -> Allowed:
    """Metric name -> labels it may carry: those spelled `name{a,b}` in SPEC, plus team/rep/window
    for the windowed KPIs (§4 before "Live gauges")."""
    kpi_section = text.split("## 4.", 1)[1].split("Live gauges", 1)[0]
    windowed = spelled_names(kpi_section)
    spelled = {
        name: set(labels.split(",")) for name, labels in re.findall(r"`(salesfloor_[a-z0-9_]+)\{([a-z_,]+)\}`", text)
    }
    allowed = {
        name: spelled.get(name, set()) | (WINDOWED if name in windowed else set()) for name in spelled_names(text)
    }
    labels = allowed.pop(HISTOGRAM)
    allowed |= {f"{HISTOGRAM}_bucket": labels | {"le"}, f"{HISTOGRAM}_sum": labels, f"{HISTOGRAM}_count": labels}
    return allowed | EXTRAS


@pytest.fixture(scope="module")
def allowed() -> Allowed:
    recorded = {
        rule["record"]: set(rule.get("labels", {}))
        for group in load_yaml(RULES)["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    return contract(spec_text()) | recorded


def problems(expr: str, allowed: Allowed, legend: str = "") -> list[str]:
    """What in one expression (and its legend) names a metric or label the worker does not export."""
    try:
        found = reads(expr)
    except ValueError as exc:
        return [str(exc)]
    errors = []
    available = set(TARGET_LABELS)
    for name, labels in found.selectors:
        if name not in allowed:
            errors.append(f"unknown metric {name}")
            continue
        available |= allowed[name]
        if labels - allowed[name] - TARGET_LABELS:
            errors.append(f"{name} has no label {sorted(labels - allowed[name] - TARGET_LABELS)}")
    for label in sorted(found.grouping - available):
        errors.append(f"no metric here carries label {label}")
    for label in sorted(set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend)) - available):
        errors.append(f"legend names label {label}")
    return [f"{e} in {expr!r}" for e in errors]


def dashboard(name: str) -> dict[str, Any]:
    return json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    top = board["panels"]
    return top + [inner for panel in top for inner in panel.get("panels", [])]


def targets(board: dict[str, Any]) -> list[dict[str, Any]]:
    return [target for panel in panels(board) for target in panel.get("targets", [])]


def variable_queries(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(selector, label) of every `label_values(selector, label)` variable."""
    found = []
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query.strip())
            assert match, f"variable {variable['name']}: want label_values(selector, label), got {query!r}"
            found.append((match.group(1), match.group(2)))
    return found


BOARDS = sorted(path.name for path in DASHBOARDS.glob("*.json"))


def test_both_dashboards_exist() -> None:
    assert BOARDS == ["operations.json", "sales-floor.json"]


@pytest.mark.parametrize("name", BOARDS)
def test_dashboard_reads_only_exported_metrics(name: str, allowed: Allowed) -> None:
    board = dashboard(name)
    errors = [e for t in targets(board) for e in problems(t["expr"], allowed, t.get("legendFormat", ""))]
    for selector, label in variable_queries(board):
        errors += problems(f"sum by ({label}) ({selector})", allowed)
    assert errors == []


def test_rules_read_only_exported_metrics(allowed: Allowed) -> None:
    exprs = [rule["expr"] for group in load_yaml(RULES)["groups"] for rule in group["rules"]]
    assert len(exprs) >= 5
    assert [e for expr in exprs for e in problems(expr, allowed)] == []


def test_sales_floor_shows_every_kpi() -> None:
    text = spec_text()
    kpis = spelled_names(text.split("## 4.", 1)[1].split("## 5.", 1)[0])
    shown = {name for t in targets(dashboard("sales-floor.json")) for name in reads(t["expr"]).metrics}
    assert kpis - shown == set()


def test_operations_shows_every_ops_metric(allowed: Allowed) -> None:
    wanted = spelled_names(spec_text().split("## 6.", 1)[1].split("## 7.", 1)[0]) - {HISTOGRAM}
    wanted |= {"salesfloor_lead_sla_breaches_total", f"{HISTOGRAM}_bucket", *EXTRAS}
    shown = {name for t in targets(dashboard("operations.json")) for name in reads(t["expr"]).metrics}
    assert wanted - shown == set()


def test_sales_floor_variables() -> None:
    board = dashboard("sales-floor.json")
    names = [variable["name"] for variable in board["templating"]["list"]]
    assert names == ["team", "rep", "window"]
    assert variable_queries(board)[0] == ("salesfloor_leads_created", "team")
    window = board["templating"]["list"][2]
    assert window["query"].split(",") == ["today", "month", "last_60m"]


@pytest.mark.parametrize("name", BOARDS)
def test_dashboard_structure(name: str) -> None:
    board = dashboard(name)
    datasource = load_yaml(DATASOURCES)["datasources"][0]["uid"]
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 36
    ids = [panel["id"] for panel in panels(board)]
    assert [i for i, n in Counter(ids).items() if n > 1] == [], "duplicate panel ids"
    for panel in panels(board):
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["targets"], f"panel {panel['title']!r} has no query"
        uids = {panel["datasource"]["uid"]} | {t["datasource"]["uid"] for t in panel["targets"]}
        assert uids == {datasource}, f"panel {panel['title']!r} uses datasource {uids}"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs), f"panel {panel['title']!r} repeats a refId"


def test_dashboard_uids_are_unique() -> None:
    uids = [dashboard(name)["uid"] for name in BOARDS]
    assert len(set(uids)) == len(uids)


def test_provisioning_loads_the_dashboards_folder() -> None:
    (provider,) = load_yaml(PROVIDERS)["providers"]
    assert provider["type"] == "file"
    grafana = load_yaml("docker-compose.yml")["services"]["grafana"]
    mounts = dict(volume.rsplit(":", 2)[:2] for volume in grafana["volumes"])
    assert mounts.get("./deploy/grafana/dashboards") == provider["options"]["path"]
    assert mounts.get("./deploy/grafana/provisioning") == "/etc/grafana/provisioning"


@pytest.mark.parametrize(
    ("expr", "error"),
    [
        ('salesfloor_leads_created{team="a", rep="_all", window="today"}', None),
        ('salesfloor_lead_response_seconds{team="a", stat="p90"}', None),
        ('label_replace(up, "x", "salesfloor_not_exported", "job", "(.*)")', None),
        ("sum by (topic) (rate(salesfloor_events_rejected_total[$__rate_interval] offset 1h))", None),
        ("histogram_quantile(0.9, sum by (le) (rate(salesfloor_event_delay_seconds_bucket[5m])))", None),
        ('salesfloor_leads_created{stat="p90"}', "has no label ['stat']"),
        ("salesfloor_leads_created_total", "unknown metric salesfloor_leads_created_total"),
        ("sum by (reason) (rate(salesfloor_events_total[5m]))", "no metric here carries label reason"),
        ("salesfloor_lead_oldest_awaiting_seconds{rep='_all'}", "has no label ['rep']"),
        ("rat(salesfloor_events_total[5m])", "unknown function 'rat'"),
        ('{__name__="salesfloor_events_total"}', "selector without a metric name"),
    ],
)
def test_the_check_itself(expr: str, error: str | None, allowed: Allowed) -> None:
    found = problems(expr, allowed)
    assert (found == []) if error is None else (len(found) == 1 and error in found[0]), found

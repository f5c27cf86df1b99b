"""Alertmanager config: valid for amtool, routes the salesfloor alerts, and names only alerts that exist."""

from __future__ import annotations

import re

import pytest

from tests.deploy.conftest import REPO, load_yaml, run_tool

CONFIG = "deploy/alertmanager/alertmanager.yml"
RULES = "deploy/prometheus/rules/salesfloor.rules.yml"


def alert_names() -> set[str]:
    groups = load_yaml(RULES)["groups"]
    return {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}


def test_config_is_valid(amtool: str) -> None:
    run_tool(amtool, "check-config", CONFIG)


@pytest.mark.parametrize("alertname", sorted(alert_names()))
def test_every_alert_reaches_the_default_receiver(amtool: str, alertname: str) -> None:
    run_tool(
        amtool,
        "config",
        "routes",
        "test",
        f"--config.file={CONFIG}",
        "--verify.receivers=default",
        f"alertname={alertname}",
        "team=inbound",
        "severity=warning",
    )


def test_grouped_per_alert_and_team() -> None:
    assert load_yaml(CONFIG)["route"]["group_by"] == ["alertname", "team"]


def test_worker_down_inhibits_the_kpi_alerts() -> None:
    (rule,) = load_yaml(CONFIG)["inhibit_rules"]
    assert rule["source_matchers"] == ["alertname = SalesfloorWorkerDown"]
    targets = re.search(r'"(.*)"', rule["target_matchers"][0])
    assert targets is not None
    assert set(targets.group(1).split("|")) == {"SalesfloorLeadWaitingOverSla", "SalesfloorLeadsWithinSlaLow"}


def test_names_only_existing_alerts() -> None:
    named = set(re.findall(r"\bSalesfloor[A-Za-z]+", (REPO / CONFIG).read_text(encoding="utf-8")))
    assert named, "the config names no salesfloor alert"
    assert named - alert_names() == set(), f"{CONFIG} names alerts that {RULES} does not define"

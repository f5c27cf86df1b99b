"""Prometheus config and alert rules: valid for promtool, and every alert unit-tested firing and quiet."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO, load_yaml, run_tool

RULES = "deploy/prometheus/rules/salesfloor.rules.yml"
RULE_TESTS = "deploy/prometheus/tests/salesfloor.rules.test.yml"


def alerts() -> list[dict[str, object]]:
    return [rule for group in load_yaml(RULES)["groups"] for rule in group["rules"] if "alert" in rule]


def test_rules_are_valid(promtool: str) -> None:
    run_tool(promtool, "check", "rules", RULES)


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.compose.yml"])
def test_config_is_valid(promtool: str, config: str, tmp_path: Path) -> None:
    """promtool wants the scrape token's file to exist: a copy of the directory with one (SPEC §8)."""
    copy = tmp_path / "prometheus"
    shutil.copytree(REPO / "deploy" / "prometheus", copy)
    text = (copy / config).read_text(encoding="utf-8")
    token_file = load_yaml(f"deploy/prometheus/{config}")["scrape_configs"][0]["authorization"]["credentials_file"]
    if token_file.startswith("/"):  # the compose volume's path
        text = text.replace(token_file, str(tmp_path / "web-token"))
        token_file = str(tmp_path / "web-token")
    (copy / token_file).write_text("a" * 32)
    (copy / config).write_text(text, encoding="utf-8")
    output = run_tool(promtool, "check", "config", str(copy / config))
    assert "rules/salesfloor.rules.yml" in output, f"{config} does not load the salesfloor rules:\n{output}"


def test_rule_unit_tests_pass(promtool: str) -> None:
    run_tool(promtool, "test", "rules", RULE_TESTS)


def test_every_alert_is_tested_firing_and_quiet() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in load_yaml(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = {str(rule["alert"]) for rule in alerts()}
    assert names, f"no alert in {RULES}"
    assert names - firing == set(), "alerts never tested firing"
    assert names - quiet == set(), "alerts never tested staying quiet"


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: str(rule["alert"]))
def test_alert_has_severity_and_explains_itself(rule: dict[str, dict[str, str]]) -> None:
    assert rule["labels"]["severity"] in {"critical", "warning", "info"}
    assert {"summary", "description", "runbook"} <= rule["annotations"].keys()

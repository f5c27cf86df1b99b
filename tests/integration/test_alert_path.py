"""The real alert path, end to end: Debian's `prometheus` scrapes a live worker (with the web token, as
deploy/prometheus does), evaluates deploy/prometheus/rules, and sends to a real `prometheus-alertmanager`
running deploy/alertmanager's routes, which posts to a webhook receiver started here. A team with a lead
left waiting past the SLA gets the "oldest lead over SLA" notification (and a team whose lead was answered
gets none); once the lead is contacted, the resolved notification follows.

Only what makes the test short differs from the shipped files: scrape and evaluation every second, the
Alertmanager's group timers in seconds, and the receiver's URL."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import web

from tests.integration.brokers import free_ports
from tests.integration.floor import produce_values
from tests.integration.workers import REPO_ROOT, Worker, worker_env

TOKEN = "c0ffee" * 6  # noqa: S105 - the test's own token
ALERT = "SalesfloorLeadWaitingOverSla"
FIRING_BUDGET_S = 90  # `for: 30s`, then a group wait
RESOLVED_BUDGET_S = 60


def stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lead(lead_id: str, team: str, created: datetime) -> bytes:
    return orjson.dumps({"event_id": f"c-{lead_id}", "type": "lead.created", "occurred_at": stamp(created),
                         "team_id": team, "rep_id": "ann", "lead_id": lead_id})  # fmt: skip


def call(lead_id: str, team: str, at: datetime) -> bytes:
    return orjson.dumps({"event_id": f"k-{lead_id}", "type": "call.completed", "occurred_at": stamp(at),
                         "team_id": team, "rep_id": "ann", "lead_id": lead_id, "call_id": f"call-{lead_id}",
                         "direction": "outbound", "outcome": "connected", "duration_s": 30})  # fmt: skip


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run `bash deploy/setup-system.sh` as root first", pytrace=False)
    return path


def prometheus_config(tmp: Path, worker_port: int, alertmanager_port: int) -> Path:
    config = yaml.safe_load((REPO_ROOT / "deploy/prometheus/prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(REPO_ROOT / "deploy/prometheus" / pattern) for pattern in config["rule_files"]]
    config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = [f"127.0.0.1:{alertmanager_port}"]
    (job,) = config["scrape_configs"]
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{worker_port}"]
    (tmp / job["authorization"]["credentials_file"]).write_text(TOKEN)  # the shipped file name, beside it
    path = tmp / "prometheus.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def alertmanager_config(tmp: Path, receiver_url: str) -> Path:
    config = yaml.safe_load((REPO_ROOT / "deploy/alertmanager/alertmanager.yml").read_text(encoding="utf-8"))

    def quick(route: dict[str, Any]) -> None:
        for key, value in (("group_wait", "1s"), ("group_interval", "2s")):
            if key in route or route is config["route"]:
                route[key] = value
        for child in route.get("routes", []):
            quick(child)

    quick(config["route"])
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = receiver_url
    path = tmp / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class Receiver:
    """The webhook Alertmanager posts to: every notification, in order."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []

    async def post(self, request: web.Request) -> web.Response:
        self.notifications.append(await request.json())
        return web.Response(text="ok")

    def alerts(self, name: str) -> list[tuple[str, dict[str, str]]]:
        return [
            (alert["status"], alert["labels"])
            for note in self.notifications
            for alert in note["alerts"]
            if alert["labels"].get("alertname") == name
        ]


def start(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)  # noqa: S603


async def wait_until(check: Any, within: float, what: str, logs: list[Path]) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return
        await asyncio.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-15:]) for p in logs)
    raise AssertionError(f"{what} not within {within:.0f} s\n{tails}")


async def test_a_waiting_lead_pages_its_team_through_prometheus_and_alertmanager(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    prometheus_bin, alertmanager_bin = tool("prometheus"), tool("prometheus-alertmanager")
    prometheus_port, alertmanager_port, receiver_port = free_ports(3)
    receiver = Receiver()
    server = web.Application()
    server.router.add_post("/alerts", receiver.post)
    runner = web.AppRunner(server)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", receiver_port).start()

    worker = Worker(worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_WEB_TOKEN=TOKEN), tmp_path / "w.log")
    worker.start()
    processes: list[subprocess.Popen[bytes]] = []
    logs = [tmp_path / "w.log", tmp_path / "prometheus.log", tmp_path / "alertmanager.log"]
    try:
        worker.wait_ready()
        now = datetime.now(timezone.utc)
        await produce_values(
            [
                lead("waiting", "team-red", now - timedelta(seconds=400)),
                lead("answered", "team-blue", now - timedelta(seconds=400)),
                call("answered", "team-blue", now - timedelta(seconds=390)),
            ],
            kafka_bootstrap,
            topic_prefix,
        )
        am_config = alertmanager_config(tmp_path, f"http://127.0.0.1:{receiver_port}/alerts")
        am_args = [f"--config.file={am_config}", f"--storage.path={tmp_path / 'am'}",
                   f"--web.listen-address=127.0.0.1:{alertmanager_port}", "--cluster.listen-address="]  # fmt: skip
        processes.append(start([alertmanager_bin, *am_args], logs[2]))
        prom_config = prometheus_config(tmp_path, worker.port, alertmanager_port)
        prom_args = [f"--config.file={prom_config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{prometheus_port}"]  # fmt: skip
        processes.append(start([prometheus_bin, *prom_args], logs[1]))

        def firing() -> bool:
            return any(status == "firing" for status, _ in receiver.alerts(ALERT))

        await wait_until(firing, FIRING_BUDGET_S, f"{ALERT} firing", logs)
        teams = {labels["team"] for _, labels in receiver.alerts(ALERT)}
        assert teams == {"team-red"}, receiver.notifications  # the answered team is not paged
        (note, *_) = [n for n in receiver.notifications if any(a["labels"]["alertname"] == ALERT for a in n["alerts"])]
        assert note["receiver"] == "default" and note["groupLabels"] == {"alertname": ALERT, "team": "team-red"}
        assert "team-red" in note["alerts"][0]["annotations"]["summary"]

        await produce_values([call("waiting", "team-red", datetime.now(timezone.utc))], kafka_bootstrap, topic_prefix)

        def resolved() -> bool:
            return ("resolved", {"alertname": ALERT, "team": "team-red", "severity": "warning"}) in [
                (status, {k: v for k, v in labels.items() if k in ("alertname", "team", "severity")})
                for status, labels in receiver.alerts(ALERT)
            ]

        await wait_until(resolved, RESOLVED_BUDGET_S, f"{ALERT} resolved", logs)
        assert {labels["team"] for _, labels in receiver.alerts(ALERT)} == {"team-red"}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        worker.stop()
        await runner.cleanup()

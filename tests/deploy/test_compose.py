"""docker-compose.yml and the Dockerfile hold together: services, images, mounts, ports, replicas.

With a working `docker compose` CLI the file is also validated by `docker compose config -q`; the
structural checks below always run, since that CLI (a plugin) is missing on many machines and needs
no engine only for `config`.
"""

from __future__ import annotations

import re
import subprocess
from typing import Any

import pytest

from tests.deploy.conftest import REPO, load_yaml, run_tool

COMPOSE = load_yaml("docker-compose.yml")
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DEFAULTED = re.compile(r"\$\{\w+:-([^}]*)\}")


def compose_cli_works() -> bool:
    try:
        done = subprocess.run(  # fixed command, no shell
            ["docker", "compose", "version"],  # noqa: S607 - docker from PATH
            capture_output=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return done.returncode == 0


@pytest.mark.skipif(not compose_cli_works(), reason="no `docker compose` CLI; structural checks still run")
def test_docker_compose_config() -> None:
    run_tool("docker", "compose", "-f", "docker-compose.yml", "config", "-q")


def test_the_stack() -> None:
    assert set(SERVICES) == {"kafka", "web-token", "worker", "simulator", "prometheus", "alertmanager", "grafana"}
    for name, service in SERVICES.items():
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin the image tag, got {image}"
        for dependency in service.get("depends_on", []):
            assert dependency in SERVICES, f"{name} depends on unknown {dependency}"


def test_kafka_is_a_single_kraft_node() -> None:
    kafka = SERVICES["kafka"]
    env = kafka["environment"]
    assert kafka["image"] == "apache/kafka:4.1.1"
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "kafka-broker-api-versions.sh" in " ".join(kafka["healthcheck"]["test"])


@pytest.mark.parametrize("name", ["worker", "simulator"])
def test_salesfloor_services(name: str) -> None:
    service = SERVICES[name]
    assert service["build"] == "."
    assert service["environment"]["SALESFLOOR_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"


def test_worker_can_run_replicas() -> None:
    worker = SERVICES["worker"]
    assert worker["command"] == ["worker"]
    assert worker["deploy"]["replicas"] >= 1
    (port,) = worker["ports"]
    host, container = port.rsplit(":", 1)
    assert container == "6066"
    assert re.search(r"\d+-\d+$", host), "publish a host port range, so that replicas do not collide"


def test_simulator_is_optional() -> None:
    simulator = SERVICES["simulator"]
    assert simulator["profiles"] == ["simulate"]
    assert simulator["command"] == ["simulate", "--realtime", "--rate", "25"]


def test_bind_mounts_exist() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = DEFAULTED.sub(r"\1", volume).split(":")[0]
            if source in COMPOSE.get("volumes", {}):
                continue  # a named volume
            assert (REPO / source).exists(), f"{name} mounts missing {source}"


def test_the_web_port_is_locked_with_one_token_for_the_worker_and_prometheus() -> None:
    """SPEC §8: the container binds 0.0.0.0, so it needs a token; the stack makes one and shares it."""
    assert "web-token" in COMPOSE["volumes"]
    maker = SERVICES["web-token"]
    assert "/dev/urandom" in maker["command"][-1] and "web-token:/run/salesfloor" in maker["volumes"]
    worker = SERVICES["worker"]
    assert worker["environment"]["SALESFLOOR_WEB_TOKEN_FILE"] == "/run/salesfloor/web-token"  # noqa: S105 - a path
    assert worker["depends_on"]["web-token"]["condition"] == "service_completed_successfully"
    assert "web-token:/run/salesfloor:ro" in worker["volumes"]
    assert "web-token:/run/salesfloor:ro" in SERVICES["prometheus"]["volumes"]
    for config in ("prometheus.compose.yml", "prometheus.yml"):
        (job,) = load_yaml(f"deploy/prometheus/{config}")["scrape_configs"]
        assert job["authorization"]["type"] == "Bearer", config
    (job,) = load_yaml("deploy/prometheus/prometheus.compose.yml")["scrape_configs"]
    assert job["authorization"]["credentials_file"] == "/run/salesfloor/web-token"


def test_prometheus_scrapes_every_worker_replica() -> None:
    prometheus = SERVICES["prometheus"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.compose.yml" in prometheus["command"]
    config = load_yaml("deploy/prometheus/prometheus.compose.yml")
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "salesfloor"
    (discovery,) = job["dns_sd_configs"]
    assert (discovery["names"], discovery["port"]) == (["worker"], 6066)
    (manager,) = config["alerting"]["alertmanagers"]
    assert manager["static_configs"][0]["targets"] == ["alertmanager:9093"]


def test_grafana_anonymous_viewer() -> None:
    env = SERVICES["grafana"]["environment"]
    assert (env["GF_AUTH_ANONYMOUS_ENABLED"], env["GF_AUTH_ANONYMOUS_ORG_ROLE"]) == ("true", "Viewer")


def test_dockerfile() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM python:3\.11-slim$", text, re.M)
    user = re.findall(r"^USER (\S+)$", text, re.M)
    assert user and user[-1] not in {"root", "0"}, "run as a non-root user"
    assert re.search(r"SALESFLOOR_WEB_HOST=0\.0\.0\.0", text)
    assert re.search(r"^EXPOSE 6066$", text, re.M)
    assert re.search(r'^ENTRYPOINT \["salesfloor"\]$', text, re.M)
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "var"} <= set(ignored)

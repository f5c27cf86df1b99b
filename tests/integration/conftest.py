"""Integration-test fixtures: a real single-node Kafka broker for the whole session.

By default a dedicated broker is started through ``deploy/kafka/kafka.sh start`` on
free ports with a throw-away data dir, and stopped at session end. Set
``SALESFLOOR_TEST_BOOTSTRAP=host:port`` to run against an existing broker instead.

A broker that cannot be started is a test FAILURE, never a skip.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from tests.integration.brokers import free_ports, run_kafka_sh

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
KAFKA_SH = REPO_ROOT / "deploy" / "kafka" / "kafka.sh"
START_TIMEOUT_S = int(os.environ.get("SALESFLOOR_KAFKA_START_TIMEOUT", "90"))
LOG_TAIL_LINES = 60


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration gets the ``integration`` marker."""
    for item in items:
        if item.path.resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def _log_tail(data_dir: Path, lines: int = LOG_TAIL_LINES) -> str:
    log = data_dir / "kafka.log"
    try:
        text = log.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no broker log at {log}: {exc})"
    return f"---- last {lines} lines of {log} ----\n" + "\n".join(text[-lines:])


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``"127.0.0.1:PORT"`` of a running broker, dedicated to this test session."""
    existing = os.environ.get("SALESFLOOR_TEST_BOOTSTRAP", "").strip()
    if existing:
        yield existing
        return

    port, controller_port = free_ports(2)
    data_dir = tmp_path_factory.mktemp("kafka")
    env = {
        **os.environ,
        "SALESFLOOR_KAFKA_PORT": str(port),
        "SALESFLOOR_KAFKA_CONTROLLER_PORT": str(controller_port),
        "SALESFLOOR_KAFKA_DATA": str(data_dir),
        "SALESFLOOR_KAFKA_START_TIMEOUT": str(START_TIMEOUT_S),
    }
    try:
        # the first run may also download the jars through mvn
        result = run_kafka_sh("start", env, timeout=START_TIMEOUT_S + 300)
    except subprocess.TimeoutExpired as exc:
        run_kafka_sh("stop", env, timeout=60)
        pytest.fail(
            f"kafka.sh start did not return within {exc.timeout:.0f}s\n{_log_tail(data_dir)}",
            pytrace=False,
        )
    if result.returncode != 0:
        run_kafka_sh("stop", env, timeout=60)
        pytest.fail(
            f"could not start the test Kafka broker (kafka.sh start exit {result.returncode})\n"
            f"stdout: {result.stdout.strip()}\nstderr: {result.stderr.strip()}\n{_log_tail(data_dir)}",
            pytrace=False,
        )
    try:
        yield f"127.0.0.1:{port}"
    finally:
        stopped = run_kafka_sh("stop", env, timeout=60)
        if stopped.returncode != 0:
            print(f"warning: kafka.sh stop failed: {stopped.stderr.strip()}")


@pytest.fixture
def topic_prefix() -> str:
    """A unique topic-name prefix per test, so tests never share topics."""
    return f"t{uuid4().hex[:10]}."

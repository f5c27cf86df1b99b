"""Fixtures for the deploy/ checks: the repository root, YAML files and the Prometheus tools.

A missing promtool or amtool is a test FAILURE, never a skip: `bash deploy/setup-system.sh` installs them.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def load_yaml(relative: str) -> Any:
    return yaml.safe_load((REPO / relative).read_text(encoding="utf-8"))


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: run `bash deploy/setup-system.sh` as root first", pytrace=False)
    return path


def run_tool(*args: str) -> str:
    """Run a command in the repository root; fail the test with its output unless it exits 0."""
    done = subprocess.run(  # noqa: S603 - fixed commands from the tests, no shell
        args, cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        pytest.fail(f"`{' '.join(args)}` exited {done.returncode}:\n{output}", pytrace=False)
    return output


@pytest.fixture(scope="session")
def promtool() -> str:
    return require_tool("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    return require_tool("amtool")


@pytest.fixture(scope="session")
def helm() -> str:
    """helm as `bash deploy/helm/install-helm.sh` installs it (var/tools/bin), else from PATH."""
    local = REPO / "var" / "tools" / "bin" / "helm"
    if local.is_file():
        return str(local)
    path = shutil.which("helm")
    if path is None:
        pytest.fail("helm not found: run `bash deploy/helm/install-helm.sh` first", pytrace=False)
    return path

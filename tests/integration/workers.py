"""Run real `salesfloor worker` processes for integration tests, and read what they export."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker_env(bootstrap: str, prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOOR_")}
    env.update(
        {
            "SALESFLOOR_KAFKA_BOOTSTRAP": bootstrap,
            "SALESFLOOR_TOPIC_PREFIX": prefix,
            "SALESFLOOR_FLUSH_INTERVAL_SECONDS": "0.5",
            **extra,
        }
    )
    return env


@dataclass
class Worker:
    """One worker process with its own web port and log file."""

    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        env = {
            **self.env,
            "SALESFLOOR_WEB_PORT": str(self.port),
            "SALESFLOOR_DATA_DIR": str(self.log_path.with_suffix(".data")),
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # our own CLI
            [sys.executable, "-m", "streams.cli", "worker", "--loglevel", "info"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self, sig: signal.Signals = signal.SIGTERM, timeout: float = 60) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def get(self, path: str, timeout: float = 10) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def metrics(self) -> str:
        status, body = self.get("/metrics")
        assert status == 200, body[:200]
        return body.decode()

    def api(self, path: str) -> Any:
        status, body = self.get(path)
        return status, json.loads(body)

    def health(self) -> dict[str, Any]:
        try:
            return dict(self.api("/api/health")[1])
        except (OSError, ValueError):
            return {"ready": False}

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.alive(), f"worker exited:\n{self.log_tail()}"
            if self.health().get("ready"):
                return
            time.sleep(0.1)
        raise AssertionError(f"worker not ready after {timeout}s: {self.health()}\n{self.log_tail()}")

"""`salesfloor demo` as a new user runs it, on its own broker (free ports, a throw-away data dir): once it
serves /metrics, SIGINT to its process group (what a terminal's Ctrl-C sends) stops the simulator, the
worker and the broker it started, every process of it gone within 10 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.integration.brokers import free_ports
from tests.integration.workers import REPO_ROOT

STOP_BUDGET_S = 10.0


def descendants(root: int) -> set[int]:
    """Every living process below `root`, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def holding(marker: str) -> set[int]:
    """Living processes whose command line names `marker` (the broker runs in a session of its own)."""
    out = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    out.add(int(entry.name))
            except OSError:
                continue
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_ctrl_c_stops_everything_the_demo_started(tmp_path: Path) -> None:
    kafka_port, controller_port, web_port = free_ports(3)
    data = tmp_path / "kafka"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOOR_")}
    env.update(
        SALESFLOOR_KAFKA_PORT=str(kafka_port),
        SALESFLOOR_KAFKA_CONTROLLER_PORT=str(controller_port),
        SALESFLOOR_KAFKA_DATA=str(data),
        SALESFLOOR_KAFKA_BOOTSTRAP=f"127.0.0.1:{kafka_port}",
        SALESFLOOR_WEB_PORT=str(web_port),
        SALESFLOOR_DATA_DIR=str(tmp_path / "worker"),
    )
    log = (tmp_path / "demo.log").open("wb")
    demo = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "demo", "--backfill", "today"],
        cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            assert demo.poll() is None, (tmp_path / "demo.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/metrics", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "demo.log").read_text()[-3000:]
            time.sleep(1)
        started = descendants(demo.pid) | holding(str(data))
        assert len(started) >= 2, started  # at least the worker and the broker's JVM

        os.killpg(demo.pid, signal.SIGINT)
        stop = time.monotonic()
        while time.monotonic() - stop < STOP_BUDGET_S and (demo.poll() is None or any(map(alive, started))):
            time.sleep(0.2)
        left = {pid for pid in started | holding(str(data)) if alive(pid)}
        assert demo.poll() is not None and not left, (left, (tmp_path / "demo.log").read_text()[-3000:])
        assert demo.returncode == 0, (tmp_path / "demo.log").read_text()[-3000:]
    finally:
        for pid in {demo.pid} | descendants(demo.pid) | holding(str(data)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        demo.wait()
        log.close()

"""Shared plumbing of the benchmarks: machine facts, result files, a broker of their own, worker
processes, /proc readings and the "has the worker caught up" check."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.brokers import free_ports  # noqa: E402 - after the path fix
from tests.integration.workers import Worker  # noqa: E402 - after the path fix

RESULTS = ROOT / "benchmarks" / "results"
LOGS = RESULTS / "logs"
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
TICK = os.sysconf("SC_CLK_TCK")


def say(text: str) -> None:
    """A progress line (the runs are long; stdout may be piped)."""
    print(f"[{datetime.now().astimezone().strftime('%H:%M:%S')}] {text}", flush=True)


# --- machine and results ------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    except (OSError, AttributeError):
        pass

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"

    return {
        **code_version(),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "mem_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "faust_streaming": version("faust-streaming"),
        "aiokafka": version("aiokafka"),
        "orjson": version("orjson"),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def code_version() -> dict[str, Any]:
    """The commit the workers ran from, and the files of agents/ and streams/ changed on top of it."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.rstrip("\n")
        except (OSError, subprocess.TimeoutExpired):
            return ""

    dirty = [line[3:] for line in git("status", "--porcelain", "--", "agents", "streams").splitlines()]
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted": dirty}


STARTED_FROM: dict[str, Any] = {}  # set by run.py as each benchmark starts: the code it measured
LOAD: list[Any] = []  # run.py's ForeignLoad of the benchmark in progress


def write_result(
    name: str,
    summary: str,
    params: dict[str, Any],
    results: dict[str, Any],
    targets: dict[str, Any] | None = None,
    code: dict[str, Any] | None = None,
) -> Path:
    """`code`: the version the workers started from (taken when they started), else the current one."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    if LOAD:
        results = {**results, "other_load": LOAD[0].result()}
    document = {
        "name": name,
        "summary": summary,
        "machine": {**machine(), **(code or STARTED_FROM)},
        "params": params,
        "results": results,
        "targets": targets or {},
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    try:
        return dict(json.loads((RESULTS / f"{name}.json").read_text()))
    except (OSError, ValueError):
        return None


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(rank) - 1]


def mark(ok: bool) -> str:
    return "ok" if ok else "MISS"


# --- broker -------------------------------------------------------------------------------------------


class Broker:
    """The given broker, or one of our own started through deploy/kafka/kafka.sh (like the test fixture)."""

    def __init__(self, bootstrap: str | None, data_dir: Path | None = None, ports: list[int] | None = None) -> None:
        """With `data_dir` (and the `ports` it was started on before), the broker's log is kept there
        across runs (a benchmark that resumes); otherwise it lives in a temporary directory."""
        self.bootstrap = bootstrap or ""
        self.env: dict[str, str] | None = None
        self.data_dir: Path | None = data_dir
        self.keep = data_dir is not None
        self.ports = ports

    def __enter__(self) -> Broker:
        if self.bootstrap:
            return self
        port, controller = self.ports = self.ports or free_ports(2)
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="salesfloor-bench-kafka-"))
        self.env = {
            **os.environ,
            "SALESFLOOR_KAFKA_PORT": str(port),
            "SALESFLOOR_KAFKA_CONTROLLER_PORT": str(controller),
            "SALESFLOOR_KAFKA_DATA": str(self.data_dir),
        }
        say(f"starting a broker of our own on 127.0.0.1:{port} (data in {self.data_dir})")
        result = subprocess.run(
            ["bash", str(KAFKA_SH), "start"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            log = self.data_dir / "kafka.log"
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            subprocess.run(["bash", str(KAFKA_SH), "stop"], env=self.env, cwd=ROOT, check=False)
            raise SystemExit(f"could not start a broker: {result.stderr.strip()}\n{tail}")
        self.bootstrap = f"127.0.0.1:{port}"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.env is not None:
            say("stopping our broker")
            subprocess.run(
                ["bash", str(KAFKA_SH), "stop"],
                env=self.env,
                cwd=ROOT,
                capture_output=True,
                timeout=120,
                check=False,
            )
            if self.data_dir is not None and not self.keep:
                shutil.rmtree(self.data_dir, ignore_errors=True)

    def pid(self) -> int | None:
        """The broker's process id, when it listens on this machine (for its CPU time)."""
        port = self.bootstrap.rsplit(":", 1)[-1]
        try:
            out = subprocess.run(
                ["ss", "-ltnpH", f"sport = :{port}"],
                capture_output=True,
                text=True,
                timeout=5,
                check=False,
            ).stdout
        except (OSError, subprocess.TimeoutExpired):
            return None
        found = re.search(r"pid=(\d+)", out)
        return int(found.group(1)) if found else None


# --- /proc --------------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and fields[1] == str(pid):
                found.append(int(entry))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (live ones and those it has waited for)."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU of a process and its children, apart."""
    fields = _stat(pid)
    if fields is None:
        return 0.0, 0.0
    user = (int(fields[11]) + int(fields[13])) / TICK  # utime cutime
    system = (int(fields[12]) + int(fields[14])) / TICK  # stime cstime
    for child in children(pid):
        child_user, child_system = cpu_split(child)
        user, system = user + child_user, system + child_system
    return user, system


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, KiB."""
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                out[name] = int(value.split()[0])
    except OSError:
        pass
    return out


# --- workers ------------------------------------------------------------------------------------------


def bench_env(bootstrap: str, prefix: str, app_id: str | None = None, **extra: str) -> dict[str, str]:
    """The worker's own defaults (flush interval 1 s etc.), only the broker, prefix and group set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOOR_")}
    env.update({"SALESFLOOR_KAFKA_BOOTSTRAP": bootstrap, "SALESFLOOR_TOPIC_PREFIX": prefix})
    if app_id:
        env["SALESFLOOR_APP_ID"] = app_id
    env.update(extra)
    return env


def new_worker(name: str, env: dict[str, str]) -> Worker:
    LOGS.mkdir(parents=True, exist_ok=True)
    return Worker(env=env, log_path=LOGS / f"{name}-{uuid4().hex[:6]}.log")


def get(port: int, path: str, timeout: float = 30) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def health(worker: Worker) -> dict[str, Any]:
    try:
        status, body = get(worker.port, "/api/health", timeout=30)
        return dict(json.loads(body))
    except (OSError, ValueError):
        return {"ready": False, "lag": {}}


def lag_by_kind(documents: Iterable[dict[str, Any]]) -> dict[str, int]:
    """Summed lag of input, entity and aggregate partitions over the workers' health documents."""
    out = {"input": 0, "entities": 0, "aggregates": 0}
    for document in documents:
        for tp, lag in document.get("lag", {}).items():
            kind = "entities" if "-entities[" in tp else "aggregates" if "-aggregates[" in tp else "input"
            out[kind] += max(lag, 0)
    return out


@dataclass
class Expected:
    """What a loaded floor adds up to, per month: checked on the floor's month windows."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # YYYY-MM -> KPI -> count
    first_day: dict[str, str] = field(default_factory=dict)  # YYYY-MM -> earliest day with events
    waiting: int | None = None  # leads awaiting response (live), when known
    # "team/rep|YYYY-MM-DD" (UTC day) -> [events, sum of `amount` in cents]: the peers' day windows
    days: dict[str, list[int]] = field(default_factory=dict)
    earliest: str = ""  # the smallest and largest `occurred_at` loaded
    latest: str = ""

    def add(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        at = event["occurred_at"]
        day = at[:10]
        month = day[:7]
        window = self.days.setdefault(f"{event.get('team_id')}/{event.get('rep_id') or ''}|{day}", [0, 0])
        window[0] += 1
        amount = event.get("amount")
        if amount is not None:
            window[1] += round(amount * 100)
        if not self.earliest or at < self.earliest:
            self.earliest = at
        if at > self.latest:
            self.latest = at
        counts = self.counts.get(month)
        if counts is None:
            counts = self.counts[month] = {"leads_created": 0, "calls_outbound": 0, "emails_sent": 0}
            self.first_day[month] = day
        elif day < self.first_day[month]:
            self.first_day[month] = day
        if kind == "lead.created":
            counts["leads_created"] += 1
        elif kind == "call.completed" and event.get("direction") == "outbound":
            counts["calls_outbound"] += 1
        elif kind == "email.sent":
            counts["emails_sent"] += 1

    def total(self, name: str) -> int:
        return sum(c[name] for c in self.counts.values())


def floor_matches(worker: Worker, expected: Expected) -> tuple[bool, str]:
    """Do the floor's KPIs (asked of `worker`, routed to their owner) equal what was loaded?"""
    for month, counts in sorted(expected.counts.items()):
        day = expected.first_day[month]
        status, body = get(worker.port, f"/api/kpis?window=month&date={day}", timeout=60)
        if status != 200:
            return False, f"HTTP {status}"
        month = json.loads(body).get("windows", {}).get("month", {})
        for name, want in counts.items():
            have = month.get(name, 0)
            if int(have) != want:
                return False, f"{day[:7]} {name} {int(have):,}/{want:,}"
    if expected.waiting is not None:
        status, body = get(worker.port, "/api/kpis?window=today", timeout=60)
        have = json.loads(body).get("live", {}).get("leads_awaiting_response", 0)
        if int(have) != expected.waiting:
            return False, f"waiting {int(have):,}/{expected.waiting:,}"
    return True, "equal"


def until_final(
    workers: list[Worker],
    expected: Expected,
    *,
    started: float,
    timeout: float,
    label: str,
    every: float = 0.25,
    on_poll: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Poll until every worker is ready (all its partitions read to the end) and the floor's KPIs equal
    the loaded events; returns the times (seconds since `started`) of the milestones."""
    deadline = started + timeout
    first_assigned = first_ready = None
    next_report = time.monotonic() + 10
    detail = ""
    while True:
        now = time.monotonic()
        if now > deadline:
            tails = "\n".join(w.log_tail(15) for w in workers)
            raise RuntimeError(f"{label}: not final after {timeout:.0f}s ({detail})\n{tails}")
        for worker in workers:
            if not worker.alive():
                raise RuntimeError(f"{label}: worker died\n{worker.log_tail(40)}")
        if on_poll:
            on_poll()
        documents = [health(w) for w in workers]
        if first_assigned is None and all(d.get("assigned") for d in documents):
            first_assigned = time.monotonic() - started
        ready = all(d.get("ready") for d in documents)
        if ready:
            if first_ready is None:
                first_ready = time.monotonic() - started
            ok, detail = floor_matches(workers[0], expected)
            if ok:
                # the KPIs are only final when no partition has moved on since: ask health again
                if all(health(w).get("ready") for w in workers):
                    return {
                        "final_s": time.monotonic() - started,
                        "assigned_s": first_assigned,
                        "first_ready_s": first_ready,
                    }
        else:
            lags = lag_by_kind(documents)
            detail = ", ".join(f"{k} lag {v:,}" for k, v in lags.items())
        if time.monotonic() >= next_report:
            say(f"  {label}: {time.monotonic() - started:5.0f}s  {detail}")
            next_report = time.monotonic() + 10
        time.sleep(every)


def stop_all(workers: Iterable[Worker]) -> None:
    for worker in workers:
        worker.stop(timeout=60)


def producer_stalls(worker: Worker) -> dict[str, float]:
    """From a worker's log: how often Faust's producer buffer was over its limit (100 messages), which
    holds every agent in `wait_until_ebb`, and the seconds spent flushing it down."""
    full = 0
    seconds = 0.0
    try:
        with worker.log_path.open(errors="replace") as log:
            for line in log:
                if "producer buffer full" in line:
                    full += 1
                elif "producer flush took" in line:
                    found = re.search(r"producer flush took ([0-9.eE+-]+)", line)
                    if found:
                        seconds += float(found.group(1))
    except OSError:
        pass
    return {"buffer_full_warnings": full, "flush_wait_s": round(seconds, 1)}


class ForeignLoad:
    """CPU seconds used meanwhile by processes that are not this run's (nor the broker's): other people's
    tests on a shared 2-core machine skew every number here, so each result records them."""

    def __init__(self, broker_pid: int | None) -> None:
        self.broker_pid = broker_pid
        self.before = self._snapshot()
        self.started = time.monotonic()

    @staticmethod
    def _snapshot() -> dict[int, tuple[float, str, int]]:
        out = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            fields = _stat(int(entry))
            if fields is None:
                continue
            try:
                name = Path(f"/proc/{entry}/comm").read_text().strip()
            except OSError:
                name = "?"
            out[int(entry)] = ((int(fields[11]) + int(fields[12])) / TICK, name, int(fields[1]))
        return out

    def _ours(self, pid: int, table: dict[int, tuple[float, str, int]]) -> bool:
        me = os.getpid()
        seen = 0
        while pid > 1 and seen < 64:
            if pid in (me, self.broker_pid):
                return True
            pid = table.get(pid, (0.0, "", 0))[2]
            seen += 1
        return False

    def result(self) -> dict[str, Any]:
        after = self._snapshot()
        foreign: dict[str, float] = {}
        for pid, (cpu, name, _ppid) in after.items():
            used = cpu - self.before.get(pid, (0.0, name, 0))[0]
            if used > 0.5 and not self._ours(pid, after):
                foreign[f"{name}[{pid}]"] = round(used, 1)
        wall = time.monotonic() - self.started
        return {
            "wall_s": round(wall, 1),
            "foreign_cpu_s": round(sum(foreign.values()), 1),
            "foreign_processes": dict(sorted(foreign.items(), key=lambda kv: -kv[1])[:6]),
        }

"""The benchmarks of the Performance issue. Each prints one summary line and writes results/<name>.json."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson

from benchmarks.common import (
    LOGS,
    RESULTS,
    ROOT,
    Broker,
    Expected,
    bench_env,
    cpu_seconds,
    cpu_split,
    free_ports,
    get,
    health,
    lag_by_kind,
    mark,
    memory_kib,
    new_worker,
    pct,
    producer_stalls,
    read_result,
    say,
    stop_all,
    until_final,
    write_result,
)
from benchmarks.load import (
    CREATED_PREFIXES,
    Dataset,
    input_offsets,
    load_floor,
    new_prefix,
    produce_values,
    topic_offsets,
    waiting_leads,
)
from streams.settings import Settings
from tests.integration.workers import Worker

DEFAULT_FLUSH_S = Settings.model_fields["flush_interval_seconds"].default

PY = sys.executable
TARGETS = {  # issue 17's (round 2); the first round's were 1.6x, 300 ms, 1 KiB, 15 s and 250 ms
    "throughput_events_per_s": 10_000,
    "throughput_vs_count_only_faust": 0.7,
    "vs_quix_count": 1.0,  # ours / Quix's stateless decode-and-count, events/s, same run
    "vs_quix_window": 3.0,  # ours / Quix's group_by + 1-day window, events/s, same run
    "cpu_us_per_event": 25,
    "two_workers_vs_one": 1.8,
    "latency_p99_ms": 100,
    "bytes_per_waiting_lead": 700,
    "recovery_s": 8,
    "metrics_render_ms": 50,
    "metrics_stall_ms": 250,
}


@dataclass
class Context:
    broker: Broker
    events: int
    leads: int = 200_000
    lead_hours: float = 0.25
    latency_seconds: float = 60.0
    scrape_hours: float = 8.0
    datasets: dict[str, Dataset] = field(default_factory=dict)
    ceilings: dict[str, Any] | None = None
    peers: dict[str, Any] | None = None  # the Quix Streams peers of this run, for throughput's ratios
    single: dict[str, Any] | None = None  # the one-worker throughput run, for throughput2 and recovery

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def floor(self, events: int | None = None) -> Dataset:
        """The pre-loaded floor of `events` (default --events) events, loaded once per run."""
        n = events or self.events
        key = f"floor-{n}"
        if key not in self.datasets:
            self.datasets[key] = load_floor(self.bootstrap, n, kind=f"floor{n // 1000}k")
        return self.datasets[key]


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


# --- 2. ceilings ----------------------------------------------------------------------------------------


def ceilings(ctx: Context) -> str:
    ds = ctx.floor()
    n = ds.events
    say(f"ceilings: bare aiokafka + orjson consumer over {n:,} events")
    started = time.monotonic()
    done = subprocess.run(
        [PY, str(ROOT / "benchmarks" / "bare_consumer.py"), ctx.bootstrap, ds.prefix, str(n)],
        capture_output=True,
        text=True,
        timeout=120 + n / 500,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bare consumer failed: {done.stderr[-2000:]}")
    bare = json.loads(done.stdout.strip().splitlines()[-1])
    bare_seconds = bare["done_s"] - started
    bare_cold = rate(n, bare_seconds)
    bare_loop = rate(n, bare["done_s"] - bare["first_s"])

    say(f"ceilings: count-only Faust agent over {n:,} events")
    port = free_ports(1)[0]
    LOGS.mkdir(parents=True, exist_ok=True)
    data_dir = LOGS / f"count-{uuid.uuid4().hex[:6]}.data"
    env = bench_env(
        ctx.bootstrap,
        ds.prefix,
        app_id=f"{ds.prefix}count-{uuid.uuid4().hex[:6]}",
        SALESFLOOR_WEB_PORT=str(port),
        SALESFLOOR_DATA_DIR=str(data_dir),
    )
    log = (LOGS / f"{data_dir.stem}.log").open("ab")
    started = time.monotonic()
    proc = subprocess.Popen(
        [PY, str(ROOT / "benchmarks" / "count_worker.py")],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    state: dict[str, Any] = {}
    try:
        deadline = started + 180 + n / 200
        next_report = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"count worker exited {proc.returncode}; see {log.name}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"count worker counted {state.get('count')} of {n} in time")
            try:
                state = json.loads(get(port, "/count", timeout=10)[1])
            except (OSError, ValueError):
                state = {}
            if state.get("count", 0) >= n:
                break
            if time.monotonic() >= next_report:
                say(f"  count-only Faust: {state.get('count', 0):,}/{n:,}")
                next_report = time.monotonic() + 10
            time.sleep(0.1)
        count_cpu = cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    faust_cold = rate(n, state["last"] - started)
    faust_loop = rate(n, state["last"] - state["first"])
    results = {
        "dataset": ds.describe(),
        "bare_aiokafka": {
            "events_per_s": round(bare_cold),
            "events_per_s_after_first_record": round(bare_loop),
            "seconds": round(bare_seconds, 2),
            "records": bare["records"],
            "decoded_objects": bare["decoded"],
            "cpu_s": round(bare["cpu_s"], 1),
            "cpu_us_per_event": round(bare["cpu_s"] / n * 1e6, 2),
        },
        "count_only_faust": {
            "events_per_s": round(faust_cold),
            "events_per_s_after_first_event": round(faust_loop),
            "seconds": round(state["last"] - started, 2),
            "cpu_s": round(count_cpu, 1),
            "cpu_us_per_event": round(count_cpu / n * 1e6, 2),
        },
    }
    ctx.ceilings = results
    summary = (
        f"ceilings: {n:,} events: bare aiokafka+orjson {bare_cold:,.0f} ev/s ({bare['cpu_s']:.1f} CPU-s), "
        f"count-only Faust {faust_cold:,.0f} ev/s ({count_cpu:.1f} CPU-s); "
        f"Faust/bare = {faust_cold / bare_cold:.2f} (from process start)"
    )
    write_result("ceilings", summary, {"events": n}, results)
    return summary


def _ceilings_for(ctx: Context, n: int) -> dict[str, Any] | None:
    if ctx.ceilings and ctx.ceilings["dataset"]["events"] == n:
        return ctx.ceilings
    stored = read_result("ceilings")
    if stored and stored["results"]["dataset"]["events"] == n:
        return dict(stored["results"])
    return None


# --- peers: Quix Streams on the same events -------------------------------------------------------------

PEERS = ROOT / "benchmarks" / "peers"


def peer_python() -> str:
    """The peers' own venv (benchmarks/peers/setup.sh → var/peers-venv), made on first use."""
    say("peers: making sure var/peers-venv has the pinned Quix Streams (benchmarks/peers/setup.sh)")
    done = subprocess.run(
        ["bash", str(PEERS / "setup.sh")], capture_output=True, text=True, timeout=900, cwd=ROOT, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmarks/peers/setup.sh failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1]


def _quix_job(python: str, ctx: Context, ds: Dataset, job: str, *extra: str) -> dict[str, Any]:
    """Run benchmarks/peers/quix_job.py JOB over the pre-loaded events; its result plus the wall times."""
    LOGS.mkdir(parents=True, exist_ok=True)
    tag = f"quix-{job}-{uuid.uuid4().hex[:6]}"
    result_path, log_path = LOGS / f"{tag}.json", LOGS / f"{tag}.log"
    n = ds.events
    timeout = (120 + n / 500) if job == "count" else (300 + n / 100)
    with log_path.open("ab") as log:
        started = time.monotonic()
        proc = subprocess.Popen(
            [python, str(PEERS / "quix_job.py"), job, ctx.bootstrap, ds.prefix, str(n), str(result_path), *extra],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        next_report = started + 10
        try:
            while proc.poll() is None:
                if time.monotonic() > started + timeout:
                    raise RuntimeError(f"Quix {job} job not done after {timeout:.0f}s; see {log_path}")
                if time.monotonic() >= next_report:
                    lines = log_path.read_text(errors="replace").strip().splitlines()
                    say(f"  Quix {job}: {time.monotonic() - started:4.0f}s  {lines[-1] if lines else ''}")
                    next_report = time.monotonic() + 10
                time.sleep(0.2)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0 or not result_path.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"Quix {job} job exited {proc.returncode}; see {log_path}\n{tail}")
    result = dict(json.loads(result_path.read_text()))
    result_path.unlink()
    result["seconds"] = result["done_s"] - started
    result["exit_seconds"] = result["exit_s"] - started
    return result


def _peer_numbers(result: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "events_per_s": round(rate(n, result["seconds"])),
        "events_per_s_after_first_record": round(rate(n, result["done_s"] - result["first_s"])),
        "seconds": round(result["seconds"], 2),
        "seconds_to_exit": round(result["exit_seconds"], 2),
        "records": result["records"],
        "reached_count": result["reached_count"],
        "cpu_s": round(result["cpu_s"], 2),
        "cpu_us_per_event": round(result["cpu_s"] / n * 1e6, 2),
        "cpu_s_at_exit": round(result["cpu_s_at_exit"], 2),
        "peak_rss_mib": round(result.get("vm_hwm_kib", 0) / 1024),
        "consumer_group": result["consumer_group"],
    }


def _compare_windows(have: dict[str, list[Any]], want: dict[str, list[int]]) -> dict[str, Any]:
    """The windowed peer's last value of every (team/rep, day) window vs the loaded events' counts and
    sums of `amount` (cents)."""
    differ = []
    for key in sorted(set(have) | set(want)):
        events, amount = have.get(key, (0, 0.0))
        want_events, want_cents = want.get(key, (0, 0))
        if events != want_events or abs(amount * 100 - want_cents) >= 0.5:
            differ.append({"window": key, "quix": [events, amount], "loaded": [want_events, want_cents / 100]})
    return {
        "windows_loaded": len(want),
        "windows_quix": len(have),
        "windows_differ": len(differ),
        "examples": differ[:5],
        "events_in_windows": sum(v[0] for v in have.values()),
        "events_loaded": sum(v[0] for v in want.values()),
        "amount_in_windows": round(sum(v[1] for v in have.values()), 2),
        "amount_loaded": sum(v[1] for v in want.values()) / 100,
    }


def peers(ctx: Context) -> str:
    """Quix Streams on the same pre-loaded events as ceilings/throughput: (a) stateless decode-and-count,
    (b) group_by team/rep + 1-day tumbling window (Count + Sum of amount, RocksDB + changelog)."""
    ds = ctx.floor()
    n = ds.events
    python = peer_python()
    # Quix's own topics (repartition__<group>..., changelog__<group>...) do not start with the prefix
    CREATED_PREFIXES.extend([f"repartition__{ds.prefix}", f"changelog__{ds.prefix}"])

    say(f"peers: Quix Streams stateless decode-and-count over {n:,} events")
    counted = _quix_job(python, ctx, ds, "count")
    if not counted["reached_count"]:
        raise RuntimeError(f"Quix count job stopped idle after {counted['records']:,} of {n:,} events")
    count = _peer_numbers(counted, n)
    count["decoded_objects"] = counted["decoded"]

    # The floor spans days and Quix closes a key's window once that key's newest event is past the
    # window's end + grace: a grace of the whole span plus one window keeps every event of the run.
    first = datetime.fromisoformat(ds.expected.earliest)
    last = datetime.fromisoformat(ds.expected.latest)
    grace_ms = int((last - first).total_seconds() * 1000) + 86_400_000
    say(
        f"peers: Quix Streams group_by team/rep + 1-day tumbling window (Count + Sum, RocksDB + changelog) "
        f"over {n:,} events, grace {grace_ms / 3_600_000:.1f} h (events {ds.expected.earliest} .. "
        f"{ds.expected.latest})"
    )
    state_dir = LOGS / f"quix-state-{uuid.uuid4().hex[:6]}"
    try:
        windowed = _quix_job(python, ctx, ds, "window", "--grace-ms", str(grace_ms), "--state-dir", str(state_dir))
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    window = _peer_numbers(windowed, n)
    check = _compare_windows(windowed["windows"], ds.expected.days)
    correct = windowed["reached_count"] and windowed["late"] == 0 and check["windows_differ"] == 0
    window.update(
        {
            "grace_ms": grace_ms,
            "late_events": windowed["late"],
            "late_examples": windowed["late_examples"],
            "state_dir_mib": round(windowed["state_dir_bytes"] / 2**20, 1),
            "check": check,
            "correct": correct,
        }
    )
    results = {
        "dataset": ds.describe(),
        "quixstreams": counted["quixstreams"],
        "quix_count": count,
        "quix_window": window,
    }
    ceil = _ceilings_for(ctx, n)
    bare_text = ""
    if ceil is not None:
        bare = ceil["bare_aiokafka"]
        results["bare_aiokafka"] = {k: bare.get(k) for k in ("events_per_s", "cpu_s", "cpu_us_per_event")}
        bare_us = bare.get("cpu_us_per_event") or bare["cpu_s"] / n * 1e6
        bare_text = f"; bare aiokafka+orjson {bare['events_per_s']:,} ev/s ({bare_us:.1f} us/event)"
    ctx.peers = results
    verdict = (
        f"every event in its window ({check['windows_loaded']:,} windows equal the loaded events)"
        if correct
        else f"WRONG: {windowed['late']:,} late events dropped, {check['windows_differ']:,} of "
        f"{check['windows_loaded']:,} windows differ from the loaded events, "
        f"{check['events_in_windows']:,}/{n:,} events in windows"
    )
    summary = (
        f"peers: {n:,} events, Quix Streams {counted['quixstreams']}: stateless decode-and-count "
        f"{count['events_per_s']:,} ev/s ({count['cpu_us_per_event']:.1f} us/event); group_by team/rep + "
        f"1-day tumbling window, Count + Sum, RocksDB + changelog {window['events_per_s']:,} ev/s "
        f"({window['cpu_us_per_event']:.1f} us/event, grace {grace_ms / 3_600_000:.0f} h: {verdict})"
        f"{bare_text} (from process start)"
    )
    write_result("peers", summary, {"events": n, "quixstreams": counted["quixstreams"], "grace_ms": grace_ms}, results)
    if not correct:
        raise RuntimeError(summary)
    return summary


def _peer_ratios(ctx: Context, n: int, events_per_s: float, cpu_us: float) -> tuple[dict[str, Any], str]:
    """Our events/s and CPU per event against the Quix peers (same run only) and the bare ceiling:
    {"quix_count"|"quix_window"|"bare_aiokafka": {"events_per_s": ours/theirs, "cpu_per_event": ours/theirs}}."""
    out: dict[str, Any] = {}
    parts = []
    peer = ctx.peers if ctx.peers and ctx.peers["dataset"]["events"] == n else None
    rows = []
    if peer is not None:
        rows += [("quix_count", "Quix count", peer["quix_count"]), ("quix_window", "Quix window", peer["quix_window"])]
    ceil = _ceilings_for(ctx, n)
    if ceil is not None:
        bare = dict(ceil["bare_aiokafka"])
        bare.setdefault("cpu_us_per_event", bare["cpu_s"] / n * 1e6)
        rows.append(("bare_aiokafka", "bare", bare))
    for key, label, other in rows:
        speed = events_per_s / other["events_per_s"]
        cpu = cpu_us / other["cpu_us_per_event"] if other["cpu_us_per_event"] else float("nan")
        out[key] = {
            "events_per_s": round(speed, 3),
            "cpu_per_event": round(cpu, 2),
            "their_events_per_s": other["events_per_s"],
            "their_cpu_us_per_event": other["cpu_us_per_event"],
        }
        if not other.get("correct", True):
            label += " (which dropped events)"
        target = TARGETS.get(f"vs_{key}")
        goal = "" if target is None else f" (target >= {target} {mark(speed >= target)})"
        parts.append(f"{label} {speed:.2f}x ev/s{goal}, {cpu:.2f}x CPU/event")
    if peer is None:
        parts.append("Quix ratios n/a (run peers in the same run)")
    return out, "ours vs " + "; ".join(parts)


# --- 1. throughput (and two workers) -------------------------------------------------------------------


def _throughput_run(ctx: Context, ds: Dataset, workers_n: int, label: str) -> dict[str, Any]:
    app_id = f"{ds.prefix}{label}-{uuid.uuid4().hex[:6]}"
    env = bench_env(ctx.bootstrap, ds.prefix, app_id=app_id)
    workers = [new_worker(f"{label}{i}", env) for i in range(workers_n)]
    broker_pid = ctx.broker.pid()
    broker_cpu0 = cpu_seconds(broker_pid) if broker_pid else None
    say(f"{label}: {workers_n} worker(s) from cold over {ds.events:,} pre-loaded events (group {app_id})")
    peak: dict[int, int] = {}

    def sample_memory() -> None:
        for w in workers:
            if w.process is not None:
                peak[w.process.pid] = max(peak.get(w.process.pid, 0), memory_kib(w.process.pid).get("VmHWM", 0))

    started = time.monotonic()
    for w in workers:
        w.start()
    try:
        times = until_final(
            workers, ds.expected, started=started, timeout=300 + ds.events / 100, label=label, on_poll=sample_memory
        )
        sample_memory()
        splits = [cpu_split(w.process.pid) for w in workers if w.process]
        cpu = sum(map(sum, splits))
        broker_cpu = cpu_seconds(broker_pid) - broker_cpu0 if broker_pid and broker_cpu0 is not None else None
    finally:
        stop_all(workers)
    stalls = [producer_stalls(w) for w in workers]
    seconds = times["final_s"]
    internal = [
        f"{app_id}-entities",
        f"{app_id}-entities-changelog",
        f"{app_id}-aggregates",
        f"{app_id}-aggregates-changelog",
    ]
    alerts = asyncio.run(topic_offsets(ctx.bootstrap, [f"{ds.prefix}alerts", f"{ds.prefix}deadletter", *internal]))
    produced = {name.removeprefix(app_id + "-"): alerts[name] for name in internal}
    return {
        "workers": workers_n,
        "app_id": app_id,
        "env": env,
        "seconds": round(seconds, 2),
        "events_per_s": round(rate(ds.events, seconds)),
        "events_per_s_after_assignment": round(rate(ds.events, seconds - (times["assigned_s"] or 0))),
        "assigned_after_s": round(times["assigned_s"] or 0, 2),
        "first_ready_s": round(times["first_ready_s"] or 0, 2),
        "worker_cpu_s": round(cpu, 1),
        "worker_cpu_us_per_event": round(cpu / ds.events * 1e6, 1),
        "worker_system_cpu_s": round(sum(system for _user, system in splits), 1),  # in the kernel, of worker_cpu_s
        "broker_cpu_s": None if broker_cpu is None else round(broker_cpu, 1),
        "peak_rss_mib": [round(v / 1024) for v in peak.values()],
        "alerts_topic_records": alerts[f"{ds.prefix}alerts"],
        "deadletter_records": alerts[f"{ds.prefix}deadletter"],
        "internal_records": produced,
        "internal_records_per_event": round(sum(produced.values()) / ds.events, 2),
        "producer_buffer_stalls": stalls,
    }


def _ratios(ctx: Context, n: int, value: float) -> tuple[dict[str, Any], str]:
    ceil = _ceilings_for(ctx, n)
    if ceil is None:
        return {}, "ratios n/a (run the ceilings benchmark on the same --events)"
    bare = ceil["bare_aiokafka"]["events_per_s"]
    count = ceil["count_only_faust"]["events_per_s"]
    out = {
        "vs_bare_aiokafka": round(value / bare, 3),
        "vs_count_only_faust": round(value / count, 3),
        "bare_aiokafka_events_per_s": bare,
        "count_only_faust_events_per_s": count,
    }
    text = (
        f"{out['vs_bare_aiokafka']:.2f}x bare aiokafka ({bare:,}/s), "
        f"{out['vs_count_only_faust']:.2f}x count-only Faust ({count:,}/s; target >= "
        f"{TARGETS['throughput_vs_count_only_faust']} "
        f"{mark(out['vs_count_only_faust'] >= TARGETS['throughput_vs_count_only_faust'])})"
    )
    return out, text


def _stall_text(run: dict[str, Any]) -> str:
    stalls = run["producer_buffer_stalls"]
    return (
        f"Faust producer-buffer-full stalls {sum(s['buffer_full_warnings'] for s in stalls):,} "
        f"({sum(s['flush_wait_s'] for s in stalls):.0f}s)"
    )


def throughput(ctx: Context) -> str:
    ds = ctx.floor()
    run = _throughput_run(ctx, ds, 1, "throughput")
    ctx.single = {"dataset": ds, **run}
    ratios, ratio_text = _ratios(ctx, ds.events, run["events_per_s"])
    peer_ratios, peer_text = _peer_ratios(ctx, ds.events, run["events_per_s"], run["worker_cpu_us_per_event"])
    ratios["ratios_to_peers_and_bare"] = peer_ratios
    eps, cpu_us = run["events_per_s"], run["worker_cpu_us_per_event"]
    summary = (
        f"throughput: {ds.events:,} events, 1 worker from cold: {eps:,} ev/s in {run['seconds']:.1f}s "
        f"(target >= {TARGETS['throughput_events_per_s']:,} {mark(eps >= TARGETS['throughput_events_per_s'])}); "
        f"{ratio_text}; worker CPU {run['worker_cpu_s']:.0f}s ({cpu_us:.0f} us/event, "
        f"target <= {TARGETS['cpu_us_per_event']} {mark(cpu_us <= TARGETS['cpu_us_per_event'])}), "
        f"broker CPU {run['broker_cpu_s']}s; {run['internal_records_per_event']} internal records/event; "
        f"{_stall_text(run)}; {peer_text}"
    )
    public = {k: v for k, v in run.items() if k != "env"}
    write_result(
        "throughput",
        summary,
        {"events": ds.events, "workers": 1},
        {"dataset": ds.describe(), **public, **ratios},
        {
            "events_per_s": TARGETS["throughput_events_per_s"],
            "vs_count_only_faust": TARGETS["throughput_vs_count_only_faust"],
            "cpu_us_per_event": TARGETS["cpu_us_per_event"],
            "vs_quix_count": TARGETS["vs_quix_count"],
            "vs_quix_window": TARGETS["vs_quix_window"],
        },
    )
    return summary


def throughput2(ctx: Context) -> str:
    ds = ctx.floor()
    run = _throughput_run(ctx, ds, 2, "throughput2")
    ratios, ratio_text = _ratios(ctx, ds.events, run["events_per_s"])
    one = ctx.single["events_per_s"] if ctx.single and ctx.single["dataset"] is ds else None
    if one is None:
        stored = read_result("throughput")
        if stored and stored["params"]["events"] == ds.events:
            one = stored["results"]["events_per_s"]
    scale = run["events_per_s"] / one if one else None
    scale_text = (
        f"{scale:.2f}x one worker (target >= {TARGETS['two_workers_vs_one']} "
        f"{mark(scale >= TARGETS['two_workers_vs_one'])})"
        if scale
        else "scaling n/a (run throughput)"
    )
    summary = (
        f"throughput2: {ds.events:,} events, 2 workers in one group: {run['events_per_s']:,} ev/s in "
        f"{run['seconds']:.1f}s = {scale_text}; {ratio_text}; workers' CPU {run['worker_cpu_s']:.0f}s, "
        f"broker CPU {run['broker_cpu_s']}s; {_stall_text(run)}"
    )
    public = {k: v for k, v in run.items() if k != "env"}
    write_result(
        "throughput2",
        summary,
        {"events": ds.events, "workers": 2},
        {"dataset": ds.describe(), **public, **ratios, "vs_one_worker": scale and round(scale, 3)},
        {"vs_one_worker": TARGETS["two_workers_vs_one"]},
    )
    return summary


# --- 5. recovery -------------------------------------------------------------------------------------------


def recovery(ctx: Context) -> str:
    if ctx.single is not None:
        ds, env = ctx.single["dataset"], ctx.single["env"]
        source = "the state of the throughput run"
    else:
        ds = ctx.floor(min(ctx.events, 200_000))
        env = bench_env(ctx.bootstrap, ds.prefix, app_id=f"{ds.prefix}recovery-{uuid.uuid4().hex[:6]}")
        say(f"recovery: building the state of {ds.events:,} events first")
        first = new_worker("recovery-build", env)
        started = time.monotonic()
        first.start()
        try:
            until_final([first], ds.expected, started=started, timeout=180 + ds.events / 500, label="recovery-build")
        finally:
            first.stop()
        source = f"a worker that processed {ds.events:,} events"
    app_id = env["SALESFLOOR_APP_ID"]
    changelogs = asyncio.run(
        topic_offsets(ctx.bootstrap, [f"{app_id}-entities-changelog", f"{app_id}-aggregates-changelog"])
    )
    say(
        f"recovery: restarting a worker holding {source} (changelog records: "
        + ", ".join(f"{k.rsplit('-', 2)[-2]} {v:,}" for k, v in changelogs.items())
        + ")"
    )
    worker = new_worker("recovery", env)
    started = time.monotonic()
    worker.start()
    try:
        times = until_final([worker], ds.expected, started=started, timeout=600, label="recovery")
        rss = memory_kib(worker.process.pid) if worker.process else {}
        cpu = cpu_seconds(worker.process.pid) if worker.process else 0.0
    finally:
        worker.stop()
    seconds = times["final_s"]
    results = {
        "dataset": ds.describe(),
        "source": source,
        "seconds": round(seconds, 2),
        "health_ready_after_s": round(times["first_ready_s"] or 0, 2),
        "changelog_records": changelogs,
        "cpu_s": round(cpu, 1),
        "rss_mib": round(rss.get("VmRSS", 0) / 1024),
        "peak_rss_mib": round(rss.get("VmHWM", 0) / 1024),
    }
    early = times["first_ready_s"] is not None and times["first_ready_s"] < seconds - 1
    summary = (
        f"recovery: restart with {source} ({ds.events:,} events, "
        f"{sum(changelogs.values()):,} changelog records) -> correct KPIs after {seconds:.1f}s "
        f"(target <= {TARGETS['recovery_s']}s {mark(seconds <= TARGETS['recovery_s'])}); "
        f"/api/health said ready after {times['first_ready_s'] or 0:.1f}s"
        + (" (BEFORE the KPIs were restored)" if early else "")
    )
    write_result("recovery", summary, {"events": ds.events}, results, {"seconds": TARGETS["recovery_s"]})
    return summary


# --- profile -------------------------------------------------------------------------------------------------


def profile(ctx: Context) -> str:
    ds = ctx.floor()
    spy = shutil.which("py-spy") or str(Path(PY).parent / "py-spy")
    if not Path(spy).exists():
        raise RuntimeError("py-spy not found: .venv/bin/pip install py-spy")
    known = ctx.single["events_per_s"] if ctx.single else None
    duration = 60 if known is None else max(10, min(60, int(0.8 * ds.events / known)))
    env = bench_env(ctx.bootstrap, ds.prefix, app_id=f"{ds.prefix}profile-{uuid.uuid4().hex[:6]}")
    worker = new_worker("profile", env)
    raw = RESULTS / "profile.raw"
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while not health(worker).get("assigned") and time.monotonic() < deadline:
            time.sleep(0.2)
        say(f"profile: py-spy on the worker for {duration}s of catching up on {ds.events:,} events")
        subprocess.run(
            [
                spy,
                "record",
                "--pid",
                str(worker.process.pid),
                "--duration",
                str(duration),  # type: ignore[union-attr]
                "--rate",
                "100",
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(raw),
            ],
            capture_output=True,
            timeout=duration + 120,
            check=True,
        )
    finally:
        worker.stop()
    text, top = summarise_profile(raw, duration, ds.events)
    (RESULTS / "profile.txt").write_text(text)
    summary = "profile: top self time: " + "; ".join(f"{name} {share:.0f}%" for name, share in top[:5])
    write_result(
        "profile",
        summary,
        {"events": ds.events, "seconds": duration},
        {"top_self": [{"frame": n, "percent": round(s, 1)} for n, s in top[:25]], "text": "results/profile.txt"},
    )
    return summary


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _short(path: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return path


def _package(path: str) -> str:
    p = _short(path)
    if p.startswith(("agents/", "streams/")):
        return p.split("/")[0] + "/ (ours)"
    top = p.split("/")[0]
    return {"asyncio": "asyncio (stdlib)"}.get(top, top if "/" in p else "stdlib " + top)


def summarise_profile(raw: Path, duration: int, events: int) -> tuple[str, list[tuple[str, float]]]:
    """py-spy raw (collapsed) stacks → self and inclusive shares by function, and self by package."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    lines: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = []
        for frame in stack.split(";"):
            found = _FRAME.match(frame)
            if found:
                frames.append((found["func"], found["file"], found["line"]))
        if not frames:
            continue
        total += count
        func, path, line_no = frames[-1]
        own[f"{func} ({_short(path)})"] += count
        lines[f"{func} ({_short(path)}:{line_no})"] += count
        packages[_package(path)] += count
        for name in {f"{f} ({_short(p)})" for f, p, _ in frames}:
            inclusive[name] += count
    share = (lambda c: 100.0 * c / total) if total else (lambda c: 0.0)
    out = [
        f"py-spy, 100 Hz, {duration}s of one worker catching up on {events:,} pre-loaded events "
        f"({total:,} non-idle samples = {total / 100 / duration:.0%} of one core), "
        f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        "",
        "SELF time by package (where the CPU goes):",
    ]
    out += [f"  {share(c):5.1f}%  {name}" for name, c in packages.most_common(15)]
    out += ["", "SELF time by function (top 30):"]
    out += [f"  {share(c):5.1f}%  {name}" for name, c in own.most_common(30)]
    out += ["", "SELF time by line (top 20):"]
    out += [f"  {share(c):5.1f}%  {name}" for name, c in lines.most_common(20)]
    stages = [
        name
        for name in inclusive
        if name.startswith(
            (
                "Pipeline.",
                "KpiCollector",
                "ProducerBuffer.",
                "Consumer._drain_messages",
                "Fetcher._fetcher",
                "Sender.",
                "Table",
                "Collection.",
            )
        )
    ]
    out += ["", "INCLUSIVE time of the pipeline's stages and Faust's machinery:"]
    out += [f"  {share(inclusive[n]):5.1f}%  {n}" for n in sorted(stages, key=lambda n: -inclusive[n])[:25]]
    out += ["", "INCLUSIVE time by function (top 40; a frame counts once per sample):"]
    out += [f"  {share(c):5.1f}%  {name}" for name, c in inclusive.most_common(40)]
    return "\n".join(out) + "\n", [(name, share(c)) for name, c in own.most_common(30)]


# --- 3. latency -------------------------------------------------------------------------------------------------

MARKER_TEAM, MARKER_REP = "team-bench", "rep-bench-marker"


def _marker(n: int) -> bytes:
    stamp = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "type": "call.completed",
            "occurred_at": stamp,
            "team_id": MARKER_TEAM,
            "rep_id": MARKER_REP,
            "call_id": f"bench-marker-{uuid.uuid4()}",
            "direction": "outbound",
            "outcome": "no_answer",
            "duration_s": 0,
        }
    )


async def _markers(port: int, bootstrap: str, prefix: str, seconds: float, every: float, poll: float) -> dict[str, Any]:
    import aiohttp
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0)
    await producer.start()
    url = f"http://127.0.0.1:{port}/api/kpis?team={MARKER_TEAM}&rep={MARKER_REP}&window=today"
    latencies: list[float] = []
    acks: list[float] = []
    polls: list[float] = []
    behind = None
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def visible() -> float:
            t = time.perf_counter()
            async with session.get(url) as reply:
                document = await reply.json()
            polls.append(time.perf_counter() - t)
            return float(document.get("windows", {}).get("today", {}).get("calls_outbound", 0))

        base = await visible()
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        sent = 0
        try:
            while loop.time() < end:
                tick = loop.time()
                sent += 1
                t_send = time.perf_counter()
                await producer.send_and_wait(f"{prefix}calls", _marker(sent), key=MARKER_REP.encode())
                t_ack = time.perf_counter()
                acks.append(t_ack - t_send)
                while True:
                    count = await visible()
                    t_seen = time.perf_counter()
                    if count >= base + sent:
                        latencies.append(t_seen - t_ack)
                        break
                    if t_seen - t_ack > 30:
                        behind = f"marker {sent} not visible after 30 s"
                        break
                    await asyncio.sleep(poll)
                if behind:
                    break
                await asyncio.sleep(max(0.0, tick + every - loop.time()))
        finally:
            await producer.stop()
    return {"latencies": latencies, "acks": acks, "polls": polls, "behind": behind}


def _stream(ctx: Context, prefix: str, rate_per_s: float, teams: int, reps: int, label: str) -> subprocess.Popen[bytes]:
    """A steady simulated floor at `rate_per_s` in its own process (benchmarks/stream.py)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log = (LOGS / f"{label}-{uuid.uuid4().hex[:6]}.log").open("ab")
    return subprocess.Popen(
        [
            PY,
            str(ROOT / "benchmarks" / "stream.py"),
            ctx.bootstrap,
            prefix,
            str(rate_per_s),
            str(teams),
            str(reps),
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


LATENCY_VARIANTS: tuple[tuple[float, str | None], ...] = ((2000.0, None), (2000.0, "1"), (200.0, None))


def latency(ctx: Context, variants_wanted: tuple[tuple[float, str | None], ...] = LATENCY_VARIANTS) -> str:
    """A marker every 0.5 s into a steady floor; the first variant (2,000 ev/s, defaults) is the target's."""
    seconds = ctx.latency_seconds
    variants = []
    for stream_rate, flush in variants_wanted:
        prefix = new_prefix("latency")
        extra = {"SALESFLOOR_FLUSH_INTERVAL_SECONDS": flush} if flush else {}
        env = bench_env(ctx.bootstrap, prefix, **extra)
        worker = new_worker("latency", env)
        say(
            f"latency (flush {flush or f'default {DEFAULT_FLUSH_S:g}'} s): worker on empty topics, then a steady "
            f"{stream_rate:,.0f} ev/s floor (10x10 reps) and a marker every 0.5 s for {seconds:.0f}s"
        )
        worker.start()
        stream = None
        try:
            worker.wait_ready(timeout=120)
            stream = _stream(ctx, prefix, stream_rate, 10, 10, "latency-stream")
            time.sleep(5)
            if stream.poll() is not None:
                raise RuntimeError("the simulated stream stopped")
            offsets0 = asyncio.run(input_offsets(ctx.bootstrap, prefix))
            cpu0, t0 = cpu_seconds(worker.process.pid), time.monotonic()  # type: ignore[union-attr]
            measured = asyncio.run(_markers(worker.port, ctx.bootstrap, prefix, seconds, 0.5, 0.02))
            wall = time.monotonic() - t0
            cpu = cpu_seconds(worker.process.pid) - cpu0  # type: ignore[union-attr]
            offsets1 = asyncio.run(input_offsets(ctx.bootstrap, prefix))
            lag = lag_by_kind([health(worker)])
        finally:
            if stream is not None:
                _stop(stream)
            worker.stop()
        ms = [v * 1000 for v in measured["latencies"]] or [float("nan")]
        variants.append(
            {
                "offered_rate": stream_rate,
                "flush_interval_s": float(flush or DEFAULT_FLUSH_S),
                "markers": len(measured["latencies"]),
                "seconds": round(wall, 1),
                "stream_events_per_s": round((offsets1 - offsets0) / wall),
                "kept_up": measured["behind"] is None,
                "behind": measured["behind"],
                "lag_at_end": lag,
                "p50_ms": round(pct(ms, 50), 1),
                "p90_ms": round(pct(ms, 90), 1),
                "p99_ms": round(pct(ms, 99), 1),
                "max_ms": round(max(ms), 1),
                "min_ms": round(min(ms), 1),
                "produce_ack_p50_ms": round(pct([v * 1000 for v in measured["acks"]], 50), 1),
                "api_poll_p50_ms": round(pct([v * 1000 for v in measured["polls"]], 50), 1),
                "api_poll_max_ms": round(max(v * 1000 for v in measured["polls"]), 1),
                "worker_cpu_share": round(cpu / wall, 2),
                "producer_buffer_stalls": producer_stalls(worker),
            }
        )

    def part(v: dict[str, Any]) -> str:
        head = (
            f"{v['p50_ms']:.0f}/{v['p99_ms']:.0f}/{v['max_ms']:.0f} ms"
            if v["kept_up"]
            else f"FELL BEHIND ({v['behind']}; lag {v['lag_at_end']}; {v['markers']} markers seen before)"
        )
        return (
            f"{head} at {v['offered_rate']:,.0f} ev/s, flush {v['flush_interval_s']:g}s ({v['markers']} markers, "
            f"{v['stream_events_per_s']:,} ev/s measured, worker CPU {v['worker_cpu_share']:.0%})"
        )

    first = variants[0]
    ok = first["kept_up"] and first["p99_ms"] <= TARGETS["latency_p99_ms"]
    summary = (
        "latency p50/p99/max: "
        + "; ".join(part(v) for v in variants)
        + f" (target p99 <= {TARGETS['latency_p99_ms']} ms at the default flush {mark(ok)})"
    )
    write_result(
        "latency",
        summary,
        {
            "seconds": seconds,
            "marker_every_s": 0.5,
            "poll_every_s": 0.02,
            "floor": "10 teams x 10 reps on the wall clock (benchmarks/stream.py)",
            "latency": "first /api/kpis reply showing the marker - produce ack",
        },
        {"variants": variants},
        {"p99_ms": TARGETS["latency_p99_ms"]},
    )
    return summary


# --- 4. memory ----------------------------------------------------------------------------------------------


def memory(ctx: Context) -> str:
    leads = ctx.leads
    prefix = new_prefix("memory")
    # alert thresholds far out: with the defaults every lead of the last 20 h would be alerted on now
    env = bench_env(ctx.bootstrap, prefix, SALESFLOOR_ALERT_THRESHOLDS="31536000")
    worker = new_worker("memory", env)
    say(
        f"memory: idle worker, then {leads:,} waiting leads over 1,000 reps, created within the last "
        f"{ctx.lead_hours:g} h"
    )
    worker.start()
    try:
        worker.wait_ready(timeout=120)
        time.sleep(5)
        pid = worker.process.pid  # type: ignore[union-attr]
        idle = memory_kib(pid)
        expected = Expected(waiting=leads)
        values = []
        for event in waiting_leads(leads, hours=ctx.lead_hours):
            expected.add(event)
            values.append(orjson.dumps(event))
        load_s = asyncio.run(produce_values(values, ctx.bootstrap, prefix, "leads"))
        started = time.monotonic()
        times = until_final([worker], expected, started=started, timeout=180 + leads / 200, label="memory")
        time.sleep(3)
        loaded = memory_kib(pid)
        document = health(worker)
        entities, buckets = document.get("entities"), document.get("aggregate_buckets")
    finally:
        worker.stop()
    per_lead = (loaded["VmRSS"] - idle["VmRSS"]) * 1024 / leads
    per_lead_peak = (loaded["VmHWM"] - idle["VmRSS"]) * 1024 / leads
    results = {
        "leads": leads,
        "reps": 1000,
        "idle_rss_mib": round(idle["VmRSS"] / 1024, 1),
        "loaded_rss_mib": round(loaded["VmRSS"] / 1024, 1),
        "peak_rss_mib": round(loaded["VmHWM"] / 1024, 1),
        "bytes_per_waiting_lead": round(per_lead),
        "bytes_per_waiting_lead_at_peak": round(per_lead_peak),
        "entities": entities,
        "aggregate_buckets": buckets,
        "created_within_hours": ctx.lead_hours,
        "load_s": round(load_s, 1),
        "processed_after_load_s": round(times["final_s"], 1),
        "alert_thresholds": "31536000 (no alert falls due during the run)",
    }
    summary = (
        f"memory: {leads:,} waiting leads, 1,000 reps: RSS idle {results['idle_rss_mib']:.0f} MiB -> "
        f"{results['loaded_rss_mib']:.0f} MiB (peak {results['peak_rss_mib']:.0f} MiB) = "
        f"{per_lead:,.0f} bytes/lead (target <= {TARGETS['bytes_per_waiting_lead']} "
        f"{mark(per_lead <= TARGETS['bytes_per_waiting_lead'])}; at peak {per_lead_peak:,.0f})"
    )
    write_result(
        "memory",
        summary,
        {"leads": leads, "reps": 1000},
        results,
        {"bytes_per_waiting_lead": TARGETS["bytes_per_waiting_lead"]},
    )
    return summary


# --- 6. scrape ---------------------------------------------------------------------------------------------


class Prober(threading.Thread):
    """GET /api/health every `every` seconds on a kept-alive connection, recording (start, latency)."""

    def __init__(self, port: int, every: float = 0.01) -> None:
        super().__init__(daemon=True)
        self.port, self.every = port, every
        self.samples: list[tuple[float, float]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self.halt.is_set():
            t = time.perf_counter()
            try:
                conn.request("GET", "/api/health")
                conn.getresponse().read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                continue
            self.samples.append((t, time.perf_counter() - t))
            time.sleep(self.every)
        conn.close()

    def between(self, start: float, end: float) -> list[float]:
        return [lat for t, lat in self.samples if start <= t <= end]


def _timed(port: int, path: str, n: int) -> tuple[list[float], int]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times, size = [], 0
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", path)
        body = conn.getresponse().read()
        times.append(time.perf_counter() - t)
        size = len(body)
    conn.close()
    return times, size


def scrape(ctx: Context, scrapes: int = 20) -> str:
    ds = load_floor(ctx.bootstrap, None, teams=10, reps_per_team=100, hours=ctx.scrape_hours, kind="scrape")
    env = bench_env(ctx.bootstrap, ds.prefix)
    worker = new_worker("scrape", env)
    worker.start()
    stream = None
    try:
        until_final([worker], ds.expected, started=time.monotonic(), timeout=180 + ds.events / 300, label="scrape")
        body = worker.metrics()
        reps = {m for m in re.findall(r'rep="([^"]*)"', body) if not m.startswith("_")}
        series = sum(1 for line in body.splitlines() if line and not line.startswith("#"))
        special = sorted({m for m in re.findall(r'rep="([^"]*)"', body) if m.startswith("_") and m != "_all"})
        say(f"scrape: {len(reps):,} reps, {series:,} series, {len(body) / 1e6:.1f} MB per scrape")
        quiet, size = _timed(worker.port, "/metrics", 10)
        api_one, _ = _timed(worker.port, "/api/kpis?team=team-north&rep=rep-north-01", 10)
        stream = _stream(ctx, ds.prefix, 1000, 10, 100, "scrape-stream")
        time.sleep(5)
        prober = Prober(worker.port)
        prober.start()
        time.sleep(10)
        base_end = time.perf_counter()
        loaded, _ = _timed(worker.port, "/metrics", scrapes)
        scrape_end = time.perf_counter()
        prober.halt.set()
        prober.join()
        baseline = prober.between(0, base_end)
        during = prober.between(base_end, scrape_end)
    finally:
        if stream is not None:
            _stop(stream)
        worker.stop()
    ms = lambda xs: [x * 1000 for x in xs]  # noqa: E731
    results = {
        "dataset": ds.describe(),
        "reps_simulated": ds.reps,
        "reps_exported": len(reps),
        "other_rep_labels": special,
        "series": series,
        "bytes": size,
        "metrics_ms_idle": {"p50": round(pct(ms(quiet), 50), 1), "max": round(max(ms(quiet)), 1)},
        "metrics_ms_under_1000_ev_s": {"p50": round(pct(ms(loaded), 50), 1), "max": round(max(ms(loaded)), 1)},
        "api_kpis_one_rep_ms": {"p50": round(pct(ms(api_one), 50), 1), "max": round(max(ms(api_one)), 1)},
        "health_ms_without_scrapes": {
            "n": len(baseline),
            "p50": round(pct(ms(baseline), 50), 1),
            "max": round(max(ms(baseline), default=0), 1),
        },
        "health_ms_during_scrapes": {
            "n": len(during),
            "p50": round(pct(ms(during), 50), 1),
            "max": round(max(ms(during), default=0), 1),
        },
    }
    render = results["metrics_ms_idle"]["p50"]
    stall = results["health_ms_during_scrapes"]["max"]
    goal, stall_goal = TARGETS["metrics_render_ms"], TARGETS["metrics_stall_ms"]
    summary = (
        f"scrape: /metrics with {len(reps):,} reps ({series:,} series, {size / 1e6:.1f} MB): "
        f"{render:.0f} ms p50 idle, {results['metrics_ms_under_1000_ev_s']['p50']:.0f} ms under 1,000 ev/s "
        f"(target <= {goal} ms {mark(render <= goal)}); longest event-loop stall "
        f"(concurrent /api/health) {stall:.0f} ms vs {results['health_ms_without_scrapes']['max']:.0f} ms "
        f"without scrapes ({mark(stall <= stall_goal)}); /api/kpis for one rep "
        f"{results['api_kpis_one_rep_ms']['p50']:.0f} ms"
    )
    write_result(
        "scrape",
        summary,
        {"reps": 1000, "scrapes": scrapes, "hours": ctx.scrape_hours},
        results,
        {"metrics_render_ms": TARGETS["metrics_render_ms"], "stall_ms": TARGETS["metrics_stall_ms"]},
    )
    return summary


BENCHMARKS = {
    "ceilings": ceilings,
    "peers": peers,
    "throughput": throughput,
    "throughput2": throughput2,
    "recovery": recovery,
    "profile": profile,
    "latency": latency,
    "memory": memory,
    "scrape": scrape,
}

__all__ = ["BENCHMARKS", "Context", "Worker"]

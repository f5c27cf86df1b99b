"""The wallboard with two workers: either worker's board shows every team and every rep with today's
numbers, equal to the KPIs the workers export (themselves checked against the reference), although
each worker owns only part of the team/rep aggregates."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from agents.kpis.model import ALL
from streams.sim.simulator import FloorConfig
from tests.integration.floor import business_zone, converge, distorted, produce_values, valid_events
from tests.integration.workers import Worker, worker_env
from tests.kpi_compare import Key, key, parse_metrics

TILES = (
    "calls_outbound",
    "calls_connected",
    "emails_sent",
    "leads_created",
    "leads_responded",
    "won_amount",
    "deals_won",
)
ROW_FIELDS = ("won_amount", "deals_won", "calls_outbound", "emails_sent")


def expected_board(union: dict[Key, float], team: str) -> dict[str, Any]:
    """What a board for `team` must show, from the exported (reference-checked) series."""

    def today(metric: str, t: str, rep: str) -> float:
        return union.get(key(f"salesfloor_{metric}", {"team": t, "rep": rep, "window": "today"}), 0.0)

    reps = {
        (labels["team"], labels["rep"])
        for (_, labels_tuple) in union
        for labels in [dict(labels_tuple)]
        if labels.get("window") == "today"
        and labels.get("rep", ALL) != ALL
        and labels["team"] != ALL
        and not labels["rep"].startswith("_")
        and (team == ALL or labels["team"] == team)
    }
    rows = {}
    for t, rep in reps:
        row = {field: today(field, t, rep) for field in ROW_FIELDS}
        if (
            any(row.values())
            or key("salesfloor_lead_response_seconds", {"team": t, "rep": rep, "window": "today", "stat": "p50"})
            in union
        ):
            rows[(t, rep)] = row
    return {"tiles": {metric: today(metric, team, ALL) for metric in TILES}, "rows": rows}


def shown(board: dict[str, Any]) -> dict[str, Any]:
    return {
        "tiles": {metric: board["today"].get(metric, 0.0) for metric in TILES},
        "rows": {
            (row["team"], row["rep"]): {field: row[field] for field in ROW_FIELDS} for row in board["leaderboard"]
        },
    }


async def test_either_workers_board_shows_every_team(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    now = datetime.now(timezone.utc)
    config = FloorConfig(
        seed=606,
        teams=4,
        reps_per_team=4,
        intensity=1.5,
        lead_rate=6,
        start=now - timedelta(hours=30),
        end=now - timedelta(seconds=1),
    )
    values = [v for v, _ in distorted(config, shuffle=0.05, duplicate=0.01, malformed=0.0)]
    events = valid_events(values)
    zone = business_zone(now)  # a day some hours old: the boards' `today` holds every team
    env = worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_TIMEZONE=zone)
    workers = [Worker(env, tmp_path / f"w{n}.log").start() for n in range(2)]
    try:
        for worker in workers:
            await asyncio.to_thread(worker.wait_ready, 120)
        await produce_values(values, kafka_bootstrap, topic_prefix)
        union = converge(workers, events, tz=zone, timeout=180)
        teams = sorted({dict(labels)["team"] for _, labels in union} - {ALL})
        assert len(teams) == 4
        owners = [{dict(labels)["team"] for _, labels in worker_keys(worker)} for worker in workers]
        assert all(owners), f"one worker owns no team/rep keys: {owners}"

        for team in [*teams, ALL]:
            want = expected_board(union, team)
            assert want["rows"] and any(want["tiles"].values()), f"nothing today for {team}: the test is empty"
            for worker in workers:
                deadline = time.monotonic() + 30  # the copy of the other worker's keys follows its commits
                while True:
                    status, board = worker.api(f"/api/board?team={team}")
                    assert status == 200, board
                    got = shown(board)
                    if got["tiles"] == want["tiles"] and got["rows"] == best(want["rows"]):
                        break
                    assert time.monotonic() < deadline, f"board of {team} on {worker.port}:\n{got}\nwant\n{want}"
                    await asyncio.sleep(1)
                assert board["owned"] is True and board["reps_total"] == len(want["rows"])
    finally:
        for worker in workers:
            worker.stop()


def worker_keys(worker: Worker) -> list[Key]:
    return [k for k in parse_metrics(worker.metrics()) if k[0] != "salesfloor_consumer_lag"]


def best(rows: dict[tuple[str, str], dict[str, float]]) -> dict[tuple[str, str], dict[str, float]]:
    """The leaderboard: the ten best by won amount, then deals won, calls, rep and team."""
    ranked = sorted(
        rows.items(),
        key=lambda item: (
            -item[1]["won_amount"],
            -item[1]["deals_won"],
            -item[1]["calls_outbound"],
            item[0][1],
            item[0][0],
        ),
    )
    return dict(ranked[:10])

"""The sales-floor wallboard: a TV page at `/`, its JSON document and a Server-Sent Events stream.

- `GET /` (+ `/wallboard.js`, `/wallboard-text.js`, `/wallboard.css`): the page, from `agents/web/static/`
  (no external assets; `?lang=en|pl|bg`, its texts in wallboard-text.js).
- `GET /api/board?team=` — everything the board shows for one team (default `_all`, the floor), as one
  JSON document built from the same functions as `/api/kpis`, so the numbers are the API's; with
  `yesterday` and `hourly`, today against the same time yesterday and by hour (agents/kpis/pace.py).
- `GET /api/board/stream?team=` — `text/event-stream`: that document whenever it changes, and at
  least every second (the heartbeat), with a `celebrate` field when deals were won since the last push
  and an `achievements` list when goals were reached or records broken (any worker's, SPEC §5b).
  A stream ends when the client goes away or the web server shuts down.

With several workers, a worker owns the aggregates of some team/rep keys only; the board shows the
others from a read-only copy that follows their changelog (agents/aggregates/replica.py), a few seconds behind
their owner. `owned` in the document says whether the team's own key is on this worker or in that copy.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from typing import Any

import faust
import orjson
from aiohttp.web import Response, StreamResponse

from agents.export.source import Worker
from agents.kpis.model import ALL, MICRO
from agents.kpis.pace import PaceReader
from agents.kpis.targets import TARGET, period_bucket
from agents.kpis.windows import now_us, sum_fields, window_buckets
from agents.routing import aggregate_partition
from agents.web.auth import passes_token
from agents.web.documents import api_shape
from streams.kafka.internals import aiohttp_app

ASSETS = {
    "/": ("wallboard.html", "text/html; charset=utf-8"),
    "/wallboard.js": ("wallboard.js", "text/javascript; charset=utf-8"),
    "/wallboard-text.js": ("wallboard-text.js", "text/javascript; charset=utf-8"),
    "/wallboard.css": ("wallboard.css", "text/css; charset=utf-8"),
}
LEADERBOARD_SIZE = 10
TICK_S = 0.25  # how often a stream looks for a change
HEARTBEAT_S = 1.0  # a stream pushes at least this often
CACHE_S = 0.2  # streams of the same team share one computation per this interval
LAG_GRACE_S = 5.0  # "lagging" = not caught up at any moment of this long a period
SPEED_MIN_LEADS = 20  # the speed-to-lead tile compares groups of at least this many answered leads
FAST, SLOW = ("le_5m",), ("le_1h", "le_24h", "gt_24h")
RANKS = ("won_amount", "calls_outbound", "meetings_held", "leads_responded")  # ?rank= of the leaderboard


def install_wallboard(app: faust.App, worker: Worker) -> None:
    board = Board(worker)
    stopping = asyncio.Event()

    async def on_shutdown(_web_app: Any) -> None:
        stopping.set()  # runs before aiohttp waits for the open handlers: the streams end at once

    aiohttp_app(app).on_shutdown.append(on_shutdown)

    for path, (name, content_type) in ASSETS.items():
        body = (resources.files("agents.web") / "static" / name).read_bytes()
        app.page(path, name=f"wallboard-{name}")(_asset_handler(body, content_type))

    @app.page("/api/board")
    async def board_json(web: Any, request: Any) -> Any:
        document, _ = board.current(request.query.get("team") or ALL, rank_of(request))
        return Response(
            body=orjson.dumps(stamped(document)), content_type="application/json", headers={"Cache-Control": "no-store"}
        )

    @app.page("/api/board/stream")
    async def board_stream(web: Any, request: Any) -> Any:
        team, rank = request.query.get("team") or ALL, rank_of(request)
        response = StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        celebrations = Celebrations()
        cursor, _ = worker.achievements.after(worker.achievements.sequence, team)  # from now on
        last_body, last_sent = b"", 0.0
        try:
            await response.write(b"retry: 1000\n\n")  # EventSource reconnects 1 s after a drop
            while not stopping.is_set():
                transport = request.transport
                if transport is None or transport.is_closing():
                    break
                document, won = board.current(team, rank)
                body = orjson.dumps(document)
                celebrate = celebrations.update(won)
                cursor, achieved = worker.achievements.after(cursor, team)
                if celebrate or achieved or body != last_body or time.monotonic() - last_sent >= HEARTBEAT_S:
                    message = stamped(document, celebrate=celebrate, achievements=achieved)
                    await response.write(b"data: " + orjson.dumps(message) + b"\n\n")
                    last_body, last_sent = body, time.monotonic()
                try:
                    await asyncio.wait_for(stopping.wait(), TICK_S)
                except TimeoutError:
                    pass
        except (ConnectionError, RuntimeError):  # the client went away mid-write
            return response
        try:
            await response.write_eof()
        except (ConnectionError, RuntimeError):
            pass
        return response


def _asset_handler(body: bytes, content_type: str) -> Any:
    async def asset(web: Any, request: Any) -> Any:
        query = passes_token(request)
        served = (
            ASSET_LINK.sub(rb"\1\2" + query.encode() + rb"\1", body)
            if query and content_type.startswith("text/html")
            else body
        )
        return Response(body=served, headers={"Content-Type": content_type, "Cache-Control": "no-cache"})

    return asset


ASSET_LINK = re.compile(rb'(["\'])(/wallboard[\w.-]*\.(?:js|css))\1')  # the page's links to its own files


def stamped(
    document: dict[str, Any], celebrate: dict[str, Any] | None = None, achievements: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The document with the server's timestamp (and a deal-won celebration, and the achievements announced
    since the last message, agents/achievements/feed.py), as sent to a client."""
    now = datetime.now(timezone.utc)
    out = {
        **document,
        "server_time": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "server_time_ms": int(now.timestamp() * 1000),
    }
    if celebrate:
        out["celebrate"] = celebrate
    if achievements:
        out["achievements"] = achievements
    return out


def rank_of(request: Any) -> str:
    """The leaderboard's metric from `?rank=` (the first of RANKS when absent or unknown)."""
    rank = request.query.get("rank")
    return rank if rank in RANKS else RANKS[0]


def speed_to_lead(month: dict[str, Any]) -> dict[str, Any]:
    """This month's conversion of leads answered within 5 minutes against those answered later, and how
    many times higher it is (None until both groups have SPEED_MIN_LEADS leads and the later one a
    conversion)."""
    leads, ratios = month.get("leads_by_response", {}), month.get("lead_conversion_ratio_by_response", {})

    def group(buckets: tuple[str, ...]) -> tuple[float, float | None]:
        count = sum(leads.get(b, 0.0) for b in buckets)
        converted = sum(leads.get(b, 0.0) * ratios.get(b, 0.0) for b in buckets)
        return count, converted / count if count else None

    (fast_leads, fast), (slow_leads, slow) = group(FAST), group(SLOW)
    enough = min(fast_leads, slow_leads) >= SPEED_MIN_LEADS and fast is not None and bool(slow)
    return {
        "window": "month",
        "fast_leads": fast_leads,
        "fast_conversion_ratio": fast,
        "slow_leads": slow_leads,
        "slow_conversion_ratio": slow,
        "times": fast / slow if enough and fast is not None and slow else None,
    }


@dataclass
class Celebrations:
    """Per stream: deals won today per rep at the last push; reports the reps who won since."""

    seen: dict[tuple[str, str], tuple[float, float]] | None = None
    count: int = 0

    def update(self, won: dict[tuple[str, str], tuple[float, float]]) -> dict[str, Any] | None:
        previous, self.seen = self.seen, won
        if previous is None:
            return None  # the first push is the baseline
        gains = []
        for key, (deals, amount) in won.items():
            old_deals, old_amount = previous.get(key, (0.0, 0.0))
            if deals > old_deals:
                gains.append((amount - old_amount, deals - old_deals, key))
        if not gains:
            return None
        gains.sort(reverse=True)
        self.count += 1
        amount, _, (team, rep) = gains[0]
        return {
            "id": self.count,
            "team": team,
            "rep": rep,
            "amount": round(amount, 2),
            "deals": int(sum(g[1] for g in gains)),
            "total_amount": round(sum(g[0] for g in gains), 2),
            "reps": [r for _, _, (_, r) in gains],
        }


@dataclass
class Board:
    """Builds board documents from the aggregates this worker owns (shared by all clients, cached)."""

    worker: Worker
    cache: dict[tuple[str, str], tuple[float, dict[str, Any], dict[tuple[str, str], tuple[float, float]]]] = field(
        default_factory=dict
    )
    lag_samples: deque[tuple[float, bool]] = field(default_factory=deque)
    pace: PaceReader = field(default_factory=PaceReader)  # today against yesterday, and by hour

    def current(
        self, team: str, rank: str = RANKS[0]
    ) -> tuple[dict[str, Any], dict[tuple[str, str], tuple[float, float]]]:
        now = time.monotonic()
        hit = self.cache.get((team, rank))
        if hit is not None and now - hit[0] < CACHE_S:
            return hit[1], hit[2]
        document, won = self.build(team, rank)
        if len(self.cache) > 100:
            self.cache.clear()
        self.cache[(team, rank)] = (now, document, won)
        return document, won

    def build(
        self, team: str, rank: str = RANKS[0]
    ) -> tuple[dict[str, Any], dict[tuple[str, str], tuple[float, float]]]:
        w = self.worker
        settings, clock = w.settings, w.kpis.clock
        now = now_us()
        buckets = self.buckets()
        owned = (team, ALL) in buckets or (
            team == ALL and aggregate_partition(ALL, ALL, settings.partitions) in w.assigned_aggregate_partitions()
        )

        kpis = api_shape(w.kpis.series_for(team, ALL, buckets.get((team, ALL), {}), now_us=now))
        today = kpis["windows"].get("today", {})
        month_values = kpis["windows"].get("month", {})
        month: dict[str, Any] = {
            "won_amount": month_values.get("won_amount", 0.0),
            "deals_won": month_values.get("deals_won", 0.0),
            "target_amount": month_values.get("target_amount"),
            "quota_attainment_ratio": month_values.get("quota_attainment_ratio"),
            "target_source": "team" if "target_amount" in month_values else None,
        }
        if team == ALL:  # the floor has no target of its own: the sum of this month's team targets
            total, teams = 0.0, 0
            for key_team, key_rep in buckets:
                if key_team == ALL or key_rep != ALL:
                    continue
                bucket = period_bucket(clock.day(now)[1:8], "won_amount")
                value = buckets.get((key_team, ALL), {}).get(bucket, {}).get(TARGET)
                if value is not None:
                    total, teams = total + value / MICRO, teams + 1
            if teams:
                month.update(
                    target_amount=total,
                    target_source="sum_of_team_targets",
                    teams_with_target=teams,
                    quota_attainment_ratio=month["won_amount"] / total if total > 0 else None,
                )

        live = kpis["live"]
        oldest = live.get("lead_oldest_awaiting_seconds", 0.0)
        sla = settings.lead_sla_seconds
        rows, won = self.reps(team, buckets, now, rank)
        document = {
            "team": team,
            "date": clock.day(now)[1:],
            "month": clock.day(now)[1:8],
            "timezone": settings.timezone,
            "currency": settings.currency,
            "sla_seconds": sla,
            "owned": owned,
            "today": today,
            "month_to_date": month,
            "live": {
                "leads_awaiting_response": live.get("leads_awaiting_response", 0.0),
                "lead_oldest_awaiting_seconds": float(int(oldest)),  # whole seconds: changes once a second
                "oldest_over_sla": oldest > sla,
                "pipeline_open_amount": live.get("pipeline_open_amount", 0.0),
            },
            "speed_to_lead": speed_to_lead(kpis["breakdowns"].get("month", {})),
            "rank": rank,
            "leaderboard": rows[:LEADERBOARD_SIZE],
            "reps_total": len(rows),
            **self.pace.document((team, ALL), buckets.get((team, ALL), {}), now, clock, w.kpis.paced),
            "teams": sorted({t for t, r in buckets if r == ALL and not t.startswith("_")}),  # for ?rotate=
            "health": self.health(),
        }
        return document, won

    def buckets(self) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
        """Every team/rep the board can show: this worker's own aggregates, and the replica's copy of
        the other workers' (agents/replica.py)."""
        w = self.worker
        assigned = w.assigned_aggregate_partitions()
        view, replica = w.view, w.replica
        out = {key: view.buckets.get(key, {}) for key, partition in view.partition_of.items() if partition in assigned}
        for key, partition in replica.partition_of.items():
            if partition not in assigned:
                out.setdefault(key, replica.buckets.get(key, {}))
        return out

    def reps(
        self,
        team: str,
        buckets: dict[tuple[str, str], dict[str, dict[str, int]]],
        now: int,
        rank: str = RANKS[0],
    ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], tuple[float, float]]]:
        """Every rep of the team (or floor) with today's numbers, best `rank` first; and deals won per rep."""
        w = self.worker
        names = window_buckets("today", now, w.kpis.clock)
        rows, won = [], {}
        for (key_team, rep), rep_buckets in buckets.items():
            if rep.startswith("_") or (team != ALL and key_team != team) or key_team == ALL:
                continue
            labels = {"team": key_team, "rep": rep, "window": "today"}
            values = api_shape(w.kpis.windowed(sum_fields(rep_buckets, names), labels))
            today = values["windows"].get("today", {})
            response = today.get("lead_response_seconds", {})
            row: dict[str, Any] = {
                "team": key_team,
                "rep": rep,
                "won_amount": today.get("won_amount", 0.0),
                "deals_won": today.get("deals_won", 0.0),
                "calls_outbound": today.get("calls_outbound", 0.0),
                "calls_connected": today.get("calls_connected", 0.0),
                "emails_sent": today.get("emails_sent", 0.0),
                "meetings_held": today.get("meetings_held", 0.0),
                "leads_responded": today.get("leads_responded", 0.0),
                "response_p50_seconds": response.get("p50"),
            }
            won[(key_team, rep)] = (row["deals_won"], row["won_amount"])
            if (
                any(row[k] for k in ("won_amount", "deals_won", "calls_outbound", "emails_sent", "meetings_held"))
                or response
            ):
                rows.append(row)
        rows.sort(
            key=lambda r: (-r[rank], -r["won_amount"], -r["deals_won"], -r["calls_outbound"], r["rep"], r["team"])
        )
        for place, row in enumerate(rows, 1):
            row["rank"] = place
        return rows, won

    def health(self) -> dict[str, Any]:
        """Caught up now, and `lagging`: not caught up at any moment of the last LAG_GRACE_S seconds
        (a busy floor always has a few messages in flight, which is not lag worth a STALE marker)."""
        lag = self.worker.lag()
        caught_up = bool(lag) and all(v == 0 for v in lag.values())
        now = time.monotonic()
        samples = self.lag_samples
        samples.append((now, caught_up))
        while len(samples) > 1 and samples[1][0] <= now - LAG_GRACE_S:
            samples.popleft()
        lagging = not any(ok for _, ok in samples) and (now - samples[0][0] >= LAG_GRACE_S or not lag)
        return {
            "ready": caught_up,
            "caught_up": caught_up,
            "lagging": lagging,
            "lag": sum(v for v in lag.values() if v > 0),
            "partitions": len(lag),
        }

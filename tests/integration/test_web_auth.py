"""The locked web port (SPEC §8) on a real worker: with `SALESFLOOR_WEB_TOKEN`, every route — ours and
Faust's own (its table and router views would print per-rep state) — answers 401 without the token or
with a wrong one, and 200 with `Authorization: Bearer` or `?token=`; `/api/health` stays open. The
board's page passes its `?token=` on to its own files. A worker bound beyond loopback without a token
refuses to start with one line, unless `SALESFLOOR_WEB_ALLOW_ANONYMOUS=1`."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.workers import REPO_ROOT, Worker, worker_env

TOKEN = "9f1c0d8e6b2a4f7e8c3d5a1b0e9f7c6d"  # noqa: S105 - the test's own token
ROUTES = [
    "/metrics",
    "/api/kpis",
    "/api/kpis?team=team-north&window=today",
    "/api/history?kpi=won_amount&from=2026-11-01&to=2026-11-02",
    "/api/board",
    "/",
    "/wallboard.js",
    "/wallboard.css",
    "/table/",
    "/router/",
]


def get(worker: Worker, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - http to the test worker
            return reply.status, reply.read(), dict(reply.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def with_token(path: str, token: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}token={token}"


def stream_opens(worker: Worker, path: str, headers: dict[str, str] | None = None) -> int:
    """The status of the board's event stream (read one message, then hang up)."""
    request = urllib.request.Request(f"http://127.0.0.1:{worker.port}{path}", headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310 - http to the test worker
            reply.readline()
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_every_route_needs_the_token_but_health(kafka_bootstrap: str, topic_prefix: str, tmp_path: Path) -> None:
    worker = Worker(worker_env(kafka_bootstrap, topic_prefix, SALESFLOOR_WEB_TOKEN=TOKEN), tmp_path / "w.log")
    worker.start()
    try:
        worker.wait_ready()  # /api/health answers without a token
        for path in ROUTES:
            status, body, headers = get(worker, path)
            assert status == 401, (path, status, body[:200])
            assert headers.get("WWW-Authenticate", "").startswith("Bearer") and TOKEN.encode() not in body
            for wrong in ({"Authorization": "Bearer " + TOKEN[:-1] + "0"}, {"Authorization": "Basic " + TOKEN}):
                assert get(worker, path, wrong)[0] == 401, (path, wrong)
            assert get(worker, with_token(path, TOKEN[::-1]))[0] == 401, path
            assert get(worker, path, {"Authorization": f"Bearer {TOKEN}"})[0] == 200, path
            assert get(worker, with_token(path, TOKEN))[0] == 200, path
        stream = "/api/board/stream?team=_all"
        assert stream_opens(worker, stream) == 401
        assert stream_opens(worker, with_token(stream, "x" * 32)) == 401
        assert stream_opens(worker, with_token(stream, TOKEN)) == 200
        assert stream_opens(worker, stream, {"Authorization": f"Bearer {TOKEN}"}) == 200

        _, page, _ = get(worker, f"/?team=team-north&token={TOKEN}")
        assert f'src="/wallboard.js?token={TOKEN}"'.encode() in page  # the page's own files get the token
        assert f'href="/wallboard.css?token={TOKEN}"'.encode() in page
        _, plain, _ = get(worker, "/", {"Authorization": f"Bearer {TOKEN}"})
        assert b"token=" not in plain
        assert get(worker, "/api/health")[0] == 200
        assert get(worker, "/no-such-page")[0] == 401  # nothing is found out without the token
        assert get(worker, "/no-such-page", {"Authorization": f"Bearer {TOKEN}"})[0] == 404
    finally:
        worker.stop()


def run_worker(env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20"])  # noqa: S104 - the point of the test
def test_a_worker_beyond_loopback_without_a_token_refuses_to_start(host: str, tmp_path: Path) -> None:
    env = worker_env("127.0.0.1:1", "t.", SALESFLOOR_WEB_HOST=host, SALESFLOOR_DATA_DIR=str(tmp_path))
    done = run_worker(env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "SALESFLOOR_WEB_HOST" in lines[0] and "SALESFLOOR_WEB_TOKEN" in lines[0], lines
    assert "SALESFLOOR_WEB_ALLOW_ANONYMOUS=1" in lines[0]


@pytest.mark.parametrize(
    ("extra", "variable"),
    [
        ({"SALESFLOOR_WEB_TOKEN": "short"}, "SALESFLOOR_WEB_TOKEN"),
        ({"SALESFLOOR_WEB_TOKEN": "with space" + "x" * 16}, "SALESFLOOR_WEB_TOKEN"),
        ({"SALESFLOOR_WEB_TOKEN_FILE": "/nonexistent/token"}, "SALESFLOOR_WEB_TOKEN_FILE"),
    ],
)
def test_a_bad_token_stops_start_up_naming_its_variable(extra: dict[str, str], variable: str, tmp_path: Path) -> None:
    done = run_worker(worker_env("127.0.0.1:1", "t.", SALESFLOOR_DATA_DIR=str(tmp_path), **extra))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and variable in lines[0] and "short" not in lines[0].split("=", 1)[1][:8], lines


def test_anonymous_on_purpose_and_a_token_file_both_start(
    kafka_bootstrap: str, topic_prefix: str, tmp_path: Path
) -> None:
    anonymous = Worker(
        worker_env(
            kafka_bootstrap,
            topic_prefix,
            SALESFLOOR_WEB_HOST="0.0.0.0",  # noqa: S104 - on purpose
            SALESFLOOR_WEB_ALLOW_ANONYMOUS="1",
        ),
        tmp_path / "a.log",
    ).start()
    try:
        anonymous.wait_ready()
        assert get(anonymous, "/metrics")[0] == 200
    finally:
        anonymous.stop()
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    locked = Worker(
        worker_env(
            kafka_bootstrap,
            topic_prefix,
            SALESFLOOR_WEB_HOST="0.0.0.0",  # noqa: S104 - on purpose
            SALESFLOOR_WEB_TOKEN_FILE=str(token_file),
        ),
        tmp_path / "b.log",
    ).start()
    try:
        locked.wait_ready()
        assert get(locked, "/metrics")[0] == 401
        assert get(locked, "/metrics", {"Authorization": f"Bearer {TOKEN}"})[0] == 200
    finally:
        locked.stop()

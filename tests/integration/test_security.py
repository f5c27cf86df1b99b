"""Security on a dedicated broker with a SASL_SSL (SCRAM-SHA-512) listener (deploy/kafka/kafka.sh with
SALESFLOOR_KAFKA_SASL_SSL_PORT): a worker that only knows the secured listener computes every KPI exactly,
its password comes from a file and is never logged, a wrong password stops it quickly with a clear
error, its web port is loopback-only by default, and no lead/deal/email/call id leaves it."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson

from streams.settings import load_settings
from streams.sim.produce import produce
from streams.sim.simulator import FloorConfig
from tests.integration.brokers import DedicatedBroker, TlsMaterial, dedicated_broker, make_tls
from tests.integration.floor import busy_start, converge, distorted, valid_events
from tests.integration.workers import Worker, worker_env

PREFIX = "secure."
WRONG_PASSWORD_EXIT_S = 60  # a worker with a wrong password must be gone well within this
ENTITY_ID_FIELDS = ("lead_id", "deal_id", "email_id", "call_id", "event_id")


def secure_env(broker: DedicatedBroker, tls: TlsMaterial, password_file: Path) -> dict[str, str]:
    return worker_env(
        broker.sasl_bootstrap,
        PREFIX,
        SALESFLOOR_KAFKA_SECURITY_PROTOCOL="SASL_SSL",
        SALESFLOOR_KAFKA_SASL_MECHANISM="SCRAM-SHA-512",
        SALESFLOOR_KAFKA_USER=tls.scram_user,
        SALESFLOOR_KAFKA_PASSWORD_FILE=str(password_file),
        SALESFLOOR_KAFKA_CA_FILE=str(tls.ca_file),
    )


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on `port`, from /proc/net/tcp and tcp6."""
    found: set[str] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port and len(address) == width:
                found.add(_address(address))
    return found


def _address(hex_address: str) -> str:
    raw = bytes.fromhex(hex_address)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc prints each 32-bit word in host (little-endian) order
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def non_loopback_ipv4() -> list[str]:
    """This host's IPv4 addresses other than 127.0.0.0/8 (may be none in a sandbox)."""
    out: list[str] = []
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
            address = str(info[4][0])
            if not address.startswith("127.") and address not in out:
                out.append(address)
    except OSError:
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: only picks the outgoing interface
            address = probe.getsockname()[0]
            if not address.startswith("127.") and address not in out and address != "0.0.0.0":  # noqa: S104 - compared, not bound
                out.append(address)
        except OSError:
            pass
    return out


def wait_exit(worker: Worker, timeout: float) -> int | None:
    assert worker.process is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = worker.process.poll()
        if code is not None:
            return code
        time.sleep(0.25)
    return None


async def test_worker_over_sasl_ssl_scram(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "tls")
    password = tls.scram_password
    now = datetime.now(timezone.utc)
    # a whole day, so the floor is as busy at any hour of the run (8 hours of night gave < 2,000 events)
    config = FloorConfig(
        seed=41,
        teams=3,
        reps_per_team=4,
        intensity=1.0,
        lead_rate=10,
        start=busy_start(now),
        end=now - timedelta(seconds=1),
    )
    values = [v for v, _ in distorted(config, shuffle=0.05, duplicate=0.01)]
    events = valid_events(values)
    ids = {str(e[f]) for e in events for f in ENTITY_ID_FIELDS if isinstance(e.get(f), str)}
    assert len(values) > 2000 and len(ids) > 1000

    with dedicated_broker(tmp_path / "kafka", tls) as broker:
        # the right password, from a file: the worker runs on the SASL_SSL listener only
        worker = Worker(secure_env(broker, tls, tls.scram_password_file), tmp_path / "w.log").start()
        try:
            worker.wait_ready()
            settings = load_settings(
                kafka_bootstrap=broker.sasl_bootstrap,
                topic_prefix=PREFIX,
                kafka_security_protocol="SASL_SSL",
                kafka_sasl_mechanism="SCRAM-SHA-512",
                kafka_user=tls.scram_user,
                kafka_password_file=tls.scram_password_file,
                kafka_ca_file=tls.ca_file,
            )
            stats = await produce(values, settings=settings, keys="random", progress=lambda s: None)
            assert stats.failed == 0 and stats.acked == len(values), f"{stats.summary()}: {stats.first_error}"
            exported = await asyncio.to_thread(converge, [worker], events, timeout=180)
            assert exported, "no KPI exported"

            # the web port listens on loopback only (SALESFLOOR_WEB_HOST defaults to 127.0.0.1)
            addresses = listening_addresses(worker.port)
            assert addresses == {"127.0.0.1"}, addresses
            for address in non_loopback_ipv4():
                with socket.socket() as s:
                    s.settimeout(3)
                    assert s.connect_ex((address, worker.port)) != 0, f"web port reachable on {address}"

            # no lead/deal/email/call (or event) id in what the worker serves
            bodies = await asyncio.to_thread(served_bodies, worker, events)
            for path, body in bodies.items():
                tokens = set(re.findall(r"[A-Za-z0-9][A-Za-z0-9_.:-]*", body))
                leaked = sorted(tokens & ids)
                assert not leaked, f"{path} exposes ids {leaked[:5]}"
                assert password not in body, path
            assert sum(len(b) for b in bodies.values()) > 10_000

            # the password never appears in the worker's log (nor in the broker's)
            log = worker.log_path.read_text(errors="replace")
            assert "Worker ready" in log or "Ready" in log, worker.log_tail()
            assert password not in log, "the Kafka password is in the worker log"
            assert password not in (broker.data_dir / "kafka.log").read_text(errors="replace")
        finally:
            worker.stop()

        # a wrong password: the worker stops by itself, soon, with a one-line error saying why (SPEC §7's
        # style for start-up errors), without echoing any password
        wrong = tmp_path / "wrong.password"
        wrong.write_text("not-the-password-" + password[:4][::-1] + "\n")
        bad = Worker(secure_env(broker, tls, wrong), tmp_path / "wrong.log")
        started = time.monotonic()
        bad.start()
        try:
            code = await asyncio.to_thread(wait_exit, bad, WRONG_PASSWORD_EXIT_S)
        finally:
            bad.kill()
        took = time.monotonic() - started
        output = bad.log_path.read_text(errors="replace")
        print(f"wrong password: exit {code} after {took:.1f}s")
        assert code is not None, (
            f"a worker with a wrong password still runs after {WRONG_PASSWORD_EXIT_S}s:\n{bad.log_tail()}"
        )
        assert code != 0, output[-2000:]
        assert password not in output and wrong.read_text().strip() not in output
        last = output.strip().splitlines()[-1] if output.strip() else ""
        assert "Traceback" not in output and re.search(r"authenticat", last, re.I), (
            f"no clear error for a wrong Kafka password; the worker printed:\n{output[-3000:]}"
        )


def served_bodies(worker: Worker, events: list[dict[str, Any]]) -> dict[str, str]:
    """/metrics, /api/health and /api/kpis for the floor, each team and each rep, every window."""
    bodies = {"/metrics": worker.metrics(), "/api/health": worker.get("/api/health")[1].decode()}
    pairs = (
        {("_all", "_all")}
        | {(e["team_id"], "_all") for e in events}
        | {(e["team_id"], e["rep_id"]) for e in events if e.get("rep_id")}
    )
    for team, rep in sorted(pairs):
        path = f"/api/kpis?team={team}&rep={rep}"
        status, body = worker.get(path)
        assert status == 200, (path, body[:200])
        orjson.loads(body)
        bodies[path] = body.decode()
    return bodies

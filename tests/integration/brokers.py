"""Dedicated brokers for the tests that must not share the session broker: ones that are stopped and
restarted mid-test, or that listen SASL_SSL. Each runs through ``deploy/kafka/kafka.sh`` on its own
free ports and data dir. Also: throw-away TLS material (a self-signed CA, a broker certificate for
127.0.0.1/localhost in a PKCS12 keystore, a truststore) and a SCRAM password, made with openssl and keytool.

A broker that cannot be started is a test failure, never a skip.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
KAFKA_SH = REPO_ROOT / "deploy" / "kafka" / "kafka.sh"
START_TIMEOUT_S = int(os.environ.get("SALESFLOOR_KAFKA_START_TIMEOUT", "90"))


def run_kafka_sh(command: str, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`deploy/kafka/kafka.sh <command>` with this environment, its output captured."""
    return subprocess.run(  # noqa: S603 - fixed script path, no shell
        [str(KAFKA_SH), command], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False
    )


def free_ports(n: int) -> list[int]:
    """n distinct ports free right now (each socket is held until all are picked)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _run(args: list[str], cwd: Path, what: str) -> None:
    result = subprocess.run(  # noqa: S603 - openssl/keytool with fixed arguments
        args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"{what} failed ({' '.join(args[:3])}...): {result.stderr.strip()[-2000:]}", pytrace=False)


@dataclass(frozen=True)
class TlsMaterial:
    """What `make_tls` wrote into `directory`: the layout SALESFLOOR_KAFKA_TLS_DIR expects, plus the CA
    certificate for clients and a SCRAM user whose password is only in a file."""

    directory: Path
    ca_file: Path
    scram_user: str
    scram_password_file: Path

    @property
    def scram_password(self) -> str:
        return self.scram_password_file.read_text().strip()


def make_tls(directory: Path, *, scram_user: str = "salesfloor-worker") -> TlsMaterial:
    """A self-signed CA, a broker certificate for 127.0.0.1 and localhost signed by it (PKCS12 keystore),
    a PKCS12 truststore with the CA (keytool), random store passwords and a random SCRAM password."""
    d = directory
    d.mkdir(parents=True, exist_ok=True)
    for name in ("keystore.password", "truststore.password", "scram.password"):
        # with a trailing newline on purpose: kafka.sh must tolerate it
        (d / name).write_text(secrets.token_urlsafe(24) + "\n")
        (d / name).chmod(0o600)
    _run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "2",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=salesfloor test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
        d,
        "openssl CA",
    )
    _run(
        [
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-keyout",
            "broker.key",
            "-out",
            "broker.csr",
            "-subj",
            "/CN=localhost",
        ],
        d,
        "openssl broker CSR",
    )
    (d / "broker.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid,issuer\n"
    )
    _run(
        [
            "openssl",
            "x509",
            "-req",
            "-sha256",
            "-days",
            "2",
            "-in",
            "broker.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "broker.crt",
            "-extfile",
            "broker.ext",
        ],
        d,
        "openssl sign broker cert",
    )
    _run(
        [
            "openssl",
            "pkcs12",
            "-export",
            "-name",
            "broker",
            "-in",
            "broker.crt",
            "-inkey",
            "broker.key",
            "-certfile",
            "ca.crt",
            "-out",
            "keystore.p12",
            "-passout",
            "file:keystore.password",
        ],
        d,
        "openssl PKCS12 keystore",
    )
    _run(
        [
            "keytool",
            "-importcert",
            "-noprompt",
            "-alias",
            "salesfloor-ca",
            "-file",
            "ca.crt",
            "-keystore",
            "truststore.p12",
            "-storetype",
            "PKCS12",
            "-storepass:file",
            "truststore.password",
        ],
        d,
        "keytool truststore",
    )
    for name in ("ca.key", "broker.key"):
        (d / name).chmod(0o600)
    return TlsMaterial(
        directory=d, ca_file=d / "ca.crt", scram_user=scram_user, scram_password_file=d / "scram.password"
    )


@dataclass
class DedicatedBroker:
    """A single-node broker of its own (kafka.sh), PLAINTEXT on `port` and, with TLS material, SASL_SSL
    (SCRAM-SHA-512) on `sasl_port`. The data dir survives `stop()`/`start()`, as a real restart does."""

    data_dir: Path
    tls: TlsMaterial | None = None
    ports: list[int] = field(default_factory=lambda: free_ports(3))

    @property
    def port(self) -> int:
        return self.ports[0]

    @property
    def controller_port(self) -> int:
        return self.ports[1]

    @property
    def sasl_port(self) -> int:
        return self.ports[2]

    @property
    def bootstrap(self) -> str:
        """The PLAINTEXT (admin) listener."""
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        assert self.tls is not None
        return f"127.0.0.1:{self.sasl_port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOOR_KAFKA")}
        env.update(
            {
                "SALESFLOOR_KAFKA_PORT": str(self.port),
                "SALESFLOOR_KAFKA_CONTROLLER_PORT": str(self.controller_port),
                "SALESFLOOR_KAFKA_DATA": str(self.data_dir),
                "SALESFLOOR_KAFKA_START_TIMEOUT": str(START_TIMEOUT_S),
            }
        )
        if self.tls is not None:
            env.update(
                {
                    "SALESFLOOR_KAFKA_SASL_SSL_PORT": str(self.sasl_port),
                    "SALESFLOOR_KAFKA_TLS_DIR": str(self.tls.directory),
                    "SALESFLOOR_KAFKA_SCRAM_USER": self.tls.scram_user,
                    "SALESFLOOR_KAFKA_SCRAM_PASSWORD_FILE": str(self.tls.scram_password_file),
                }
            )
        return env

    def _kafka_sh(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        return run_kafka_sh(command, self.env(), timeout)

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = (self.data_dir / "kafka.log").read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"(no broker log: {exc})"
        return "\n".join(text[-lines:])

    def start(self) -> float:
        """Start (or restart) the broker and wait until it is ready; returns the seconds it took."""
        t0 = time.monotonic()
        try:
            result = self._kafka_sh("start", START_TIMEOUT_S + 300)
        except subprocess.TimeoutExpired:
            self.stop()
            pytest.fail(f"kafka.sh start hung\n{self.log_tail()}", pytrace=False)
        if result.returncode != 0:
            self.stop()
            pytest.fail(
                f"kafka.sh start failed ({result.returncode}): {result.stderr.strip()}\n{self.log_tail()}",
                pytrace=False,
            )
        return time.monotonic() - t0

    def stop(self) -> float:
        """Stop it (SIGTERM, SIGKILL after 30 s); returns the seconds it took."""
        t0 = time.monotonic()
        result = self._kafka_sh("stop", 90)
        assert result.returncode == 0, result.stderr
        return time.monotonic() - t0

    def running(self) -> bool:
        return self._kafka_sh("status", 30).returncode == 0


@contextmanager
def dedicated_broker(data_dir: Path, tls: TlsMaterial | None = None) -> Iterator[DedicatedBroker]:
    """A started DedicatedBroker, stopped on exit whatever happened."""
    broker = DedicatedBroker(data_dir=data_dir, tls=tls)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def consecutive_free_ports(count: int, avoid: frozenset[int] | set[int] = frozenset()) -> int:
    """The first of `count` consecutive ports free right now (kafka.sh gives cluster node i port PORT+i-1)."""
    for _ in range(200):
        base = secrets.randbelow(20_000) + 30_000
        ports = range(base, base + count)
        if avoid.intersection(ports):
            continue
        socks: list[socket.socket] = []
        try:
            for port in ports:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError(f"no {count} consecutive free ports")


@dataclass
class Cluster:
    """Three KRaft nodes (each broker + controller) on loopback through `kafka.sh cluster-start`: node i
    on `port + i - 1`, its data in `data_dir/node-i`; replication factor 3, min.insync.replicas 2."""

    data_dir: Path
    nodes: int = 3
    port: int = field(default_factory=lambda: consecutive_free_ports(3))
    controller_port: int = 0

    def __post_init__(self) -> None:
        if not self.controller_port:
            self.controller_port = consecutive_free_ports(self.nodes, avoid=set(range(self.port, self.port + 3)))

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{self.port + i}" for i in range(self.nodes))

    def node_port(self, node: int) -> int:
        return self.port + node - 1

    def pid(self, node: int) -> int:
        return int((self.data_dir / f"node-{node}" / "kafka.pid").read_text().strip())

    def _kafka_sh(self, command: str, timeout: float) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SALESFLOOR_KAFKA")}
        env.update(
            SALESFLOOR_KAFKA_PORT=str(self.port),
            SALESFLOOR_KAFKA_CONTROLLER_PORT=str(self.controller_port),
            SALESFLOOR_KAFKA_DATA=str(self.data_dir),
            SALESFLOOR_KAFKA_NODES=str(self.nodes),
            SALESFLOOR_KAFKA_START_TIMEOUT=str(START_TIMEOUT_S),
        )
        return run_kafka_sh(command, env, timeout)

    def log_tail(self, node: int, lines: int = 30) -> str:
        try:
            text = (self.data_dir / f"node-{node}" / "kafka.log").read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"(no log of node {node}: {exc})"
        return "\n".join(text[-lines:])

    def start(self) -> float:
        """Start every node that is not running (all of them at first) and wait until each is ready."""
        t0 = time.monotonic()
        result = self._kafka_sh("cluster-start", START_TIMEOUT_S + 300)
        if result.returncode != 0:
            tails = "\n".join(self.log_tail(n) for n in range(1, self.nodes + 1))
            self._kafka_sh("cluster-stop", 120)
            pytest.fail(f"kafka.sh cluster-start failed: {result.stderr.strip()[-2000:]}\n{tails}", pytrace=False)
        return time.monotonic() - t0

    def stop(self) -> None:
        for node in range(1, self.nodes + 1):  # a paused node cannot stop
            try:
                os.kill(self.pid(node), signal.SIGCONT)
            except (OSError, ValueError):
                pass
        self._kafka_sh("cluster-stop", 120)


@contextmanager
def cluster(data_dir: Path) -> Iterator[Cluster]:
    """A started three-node Cluster, stopped on exit whatever happened."""
    nodes = Cluster(data_dir=data_dir)
    nodes.start()
    try:
        yield nodes
    finally:
        nodes.stop()

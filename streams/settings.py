"""Settings per SPEC §7: one frozen, typed object read from the environment and checked at start-up."""

from __future__ import annotations

import ipaddress
import json
import re
import socket
import ssl
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from streams.errors import ConfigError

ENV_PREFIX = "SALESFLOOR_"


MAX_PARTITIONS = 1024  # per internal topic
# How often a worker's consumers (Faust's and ingest's) heartbeat: a group's members learn of a rebalance (a
# worker joining or leaving) at their next heartbeat, so a hand-over waits about this long for each group.
HEARTBEAT_S = 0.25


class Settings(BaseSettings):
    """Everything a worker, the simulator and the tools need to know about their surroundings."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    kafka_bootstrap: str = "localhost:9092"
    topic_prefix: str = Field(default="sales.", pattern=r"^[A-Za-z0-9._-]{0,200}$")
    timezone: str = "UTC"
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    lead_sla_seconds: float = Field(default=300.0, gt=0)
    alert_thresholds: str = "300,3600"
    goal_milestones: str = "0.5,1"
    max_future_seconds: float = Field(default=300.0, ge=0)
    deal_stages: str = "qualification,proposal,negotiation"
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535)
    web_advertised_host: str = Field(default="", pattern=r"^[A-Za-z0-9.:\[\]-]{0,253}$")
    max_reps: int = Field(default=1000, ge=1)
    partitions: int = Field(default=4, ge=1, le=MAX_PARTITIONS)
    replication_factor: int = Field(default=1, ge=1, le=16)
    retention_days: float = Field(default=40.0, gt=0)
    history_days: float = Field(default=62.0, gt=0, le=3660)
    flush_interval_seconds: float = Field(default=0.03, gt=0, le=60)
    expiry_interval_seconds: float = Field(default=300.0, gt=0)
    session_timeout_seconds: float = Field(default=15.0, ge=6, le=300)
    app_id: str = Field(default="", pattern=r"^[A-Za-z0-9._-]{0,200}$")
    data_dir: Path = Path("var/worker")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_user: str = ""
    kafka_password: SecretStr = SecretStr("")
    kafka_password_file: Path | None = None
    kafka_ca_file: Path | None = None
    alert_webhook_url: SecretStr = SecretStr("")  # a Slack webhook's path is its credential
    alert_routes_file: Path | None = None
    web_token: SecretStr = SecretStr("")  # SPEC §8: every endpoint but /api/health needs it when set
    web_token_file: Path | None = None
    web_allow_anonymous: bool = False

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @field_validator("alert_thresholds")
    @classmethod
    def _thresholds(cls, value: str) -> str:
        parse_thresholds(value)
        return value

    @field_validator("goal_milestones")
    @classmethod
    def _milestones(cls, value: str) -> str:
        parse_milestones(value)
        return value

    @field_validator("deal_stages")
    @classmethod
    def _stages(cls, value: str) -> str:
        parse_stages(value)
        return value

    @field_validator("alert_webhook_url")
    @classmethod
    def _webhook_url(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            check_webhook_url(value.get_secret_value())
        return value

    @field_validator("alert_routes_file")
    @classmethod
    def _routes_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_routes(value)
        return value

    @field_validator("web_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value():
            check_token(value.get_secret_value())
        return value

    @field_validator("web_token_file")
    @classmethod
    def _token_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            read_token(value)
        return value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap(cls, value: str) -> str:
        for server in value.split(","):
            host, sep, port = server.strip().rpartition(":")
            if not sep or not host or not port.isdigit():
                raise ValueError(f"expected host:port[,host:port...], got {value!r}")
        return value

    @property
    def faust_id(self) -> str:
        """The Faust app id (consumer group and internal topic prefix); derived from the topic prefix."""
        return self.app_id or f"{self.topic_prefix}salesfloor"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def thresholds(self) -> tuple[int, ...]:
        return parse_thresholds(self.alert_thresholds)

    @property
    def milestones(self) -> tuple[float, ...]:
        return parse_milestones(self.goal_milestones)

    @property
    def stages(self) -> tuple[str, ...]:
        return parse_stages(self.deal_stages)

    @property
    def min_insync_replicas(self) -> int:
        """For the topics the worker creates: 2 of 3 (or more) replicas must have a write; 1 below that, so
        that one broker of two may fail."""
        return 2 if self.replication_factor >= 3 else 1

    @property
    def retention_us(self) -> int:
        return int(self.retention_days * 86400 * 1_000_000)

    def alert_routes(self) -> dict[str, str]:
        """Webhook URL per team (`*`: every other team): the routes file's, else `*` → the one URL; empty
        when notifications are off."""
        if self.alert_routes_file is not None:
            return read_routes(self.alert_routes_file)
        url = self.alert_webhook_url.get_secret_value()
        return {"*": url} if url else {}

    def token(self) -> str | None:
        """The web port's bearer token (the file's when one is configured), None when the port is open."""
        if self.web_token_file is not None:
            return read_token(self.web_token_file)
        return self.web_token.get_secret_value() or None

    @property
    def advertised_host(self) -> str:
        """The host other workers reach this one at (API calls for keys it owns are forwarded to it):
        `SALESFLOOR_WEB_ADVERTISED_HOST`, else the bound host, else, for a wildcard bind (0.0.0.0 in a
        container), this machine's host name."""
        if self.web_advertised_host:
            return self.web_advertised_host
        if self.web_host in ("0.0.0.0", "::", ""):  # noqa: S104 - compared, not bound
            return socket.gethostname()
        return self.web_host

    def exposure_error(self) -> str | None:
        """Why a worker must not start with this web port (SPEC §8), or None."""
        if self.token() is not None or self.web_allow_anonymous or is_loopback(self.web_host):
            return None
        return (
            f"invalid {ENV_PREFIX}WEB_HOST={self.web_host!r}: binding beyond loopback needs "
            f"{ENV_PREFIX}WEB_TOKEN or {ENV_PREFIX}WEB_TOKEN_FILE (per-rep numbers are personal data), "
            f"or {ENV_PREFIX}WEB_ALLOW_ANONYMOUS=1 to serve them to anyone on purpose"
        )

    def password(self) -> str:
        """The Kafka password, from the file when one is configured; never logged."""
        if self.kafka_password_file is not None:
            return self.kafka_password_file.read_text(encoding="utf-8").strip()
        return self.kafka_password.get_secret_value()

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Connection keyword arguments for aiokafka producers, consumers and admin clients."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.kafka_bootstrap,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            kwargs["ssl_context"] = self.ssl_context()
        if self.kafka_security_protocol.startswith("SASL"):
            kwargs["sasl_mechanism"] = self.kafka_sasl_mechanism
            kwargs["sasl_plain_username"] = self.kafka_user
            kwargs["sasl_plain_password"] = self.password()
        return kwargs

    def ssl_context(self) -> ssl.SSLContext:
        cafile = str(self.kafka_ca_file) if self.kafka_ca_file else None
        return ssl.create_default_context(cafile=cafile)


def parse_stages(value: str) -> tuple[str, ...]:
    """Comma-separated deal stage names: at least one, distinct, `[a-z0-9_-]`, not `created`."""
    stages = tuple(part.strip() for part in value.split(","))
    if not stages or any(not re.fullmatch(r"[a-z0-9_-]{1,32}", stage) for stage in stages):
        raise ValueError(f"expected comma-separated stage names of a-z, 0-9, _ and - (1-32 chars), got {value!r}")
    if len(set(stages)) != len(stages) or "created" in stages:
        raise ValueError(f"stages must be distinct and not 'created' (every deal starts there), got {value!r}")
    return stages


def parse_thresholds(value: str) -> tuple[int, ...]:
    try:
        thresholds = tuple(sorted({int(part) for part in value.split(",") if part.strip()}))
    except ValueError:
        raise ValueError(f"expected comma-separated whole seconds, got {value!r}") from None
    if not thresholds or thresholds[0] <= 0:
        raise ValueError(f"expected at least one positive threshold, got {value!r}")
    return thresholds


def parse_milestones(value: str) -> tuple[float, ...]:
    """Comma-separated attainment ratios (`0.5,1`): at least one, each positive and finite, at most 100."""
    try:
        milestones = tuple(sorted({float(part) for part in value.split(",") if part.strip()}))
    except ValueError:
        raise ValueError(f"expected comma-separated attainment ratios such as 0.5,1, got {value!r}") from None
    if not milestones or not all(0 < m <= 100 for m in milestones):  # also rejects nan and inf
        raise ValueError(f"expected at least one ratio, each above 0 and at most 100, got {value!r}")
    return milestones


MIN_TOKEN_LENGTH = 16


def check_token(token: str) -> None:
    """At least 16 printable ASCII characters without spaces (it travels in a header and a URL); the
    message never repeats it."""
    if len(token) < MIN_TOKEN_LENGTH or not all(33 <= ord(c) < 127 for c in token):
        raise ValueError(
            f"expected at least {MIN_TOKEN_LENGTH} printable ASCII characters without spaces "
            "(e.g. `openssl rand -hex 32`)"
        )


def read_token(path: Path) -> str:
    """The token in a file (surrounding whitespace and a final newline stripped)."""
    try:
        token = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the token file: {getattr(exc, 'strerror', None) or exc}") from None
    check_token(token)
    return token


def is_loopback(host: str) -> bool:
    """`localhost`, 127.0.0.0/8 or ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_webhook_url(url: str) -> None:
    """An absolute http(s) URL with a host; the message never repeats the URL (its path may be a secret)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"expected an http:// or https:// URL, got scheme {parts.scheme!r}")
    if not parts.hostname or any(c.isspace() for c in url):
        raise ValueError("expected an http(s) URL with a host and no spaces")


def read_routes(path: Path) -> dict[str, str]:
    """The routes file: a JSON object of team id (or `*`, the default) → webhook URL."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the routes file: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        routes = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the routes file is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(routes, dict) or not routes:
        raise ValueError(
            'expected a JSON object of team id → URL, e.g. {"team-north": "https://...", "*": "https://..."}'
        )
    for team, url in routes.items():
        if not team or team == "default":
            raise ValueError(f"route {team!r} is not a team id (the default route is '*')")
        if not isinstance(url, str):
            raise ValueError(f"the URL of route {team!r} must be a string, got {type(url).__name__}")
        try:
            check_webhook_url(url)
        except ValueError as exc:
            raise ValueError(f"route {team!r}: {exc}") from None
    return routes


SECRET_FIELDS = frozenset({"kafka_password", "alert_webhook_url", "web_token"})


def load_settings(**overrides: Any) -> Settings:
    """Read the settings from the environment; a bad value raises ConfigError naming its variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "?"
        given = "<hidden>" if field in SECRET_FIELDS else error.get("input")
        raise ConfigError(f"invalid {ENV_PREFIX}{field.upper()}={given!r}: {error['msg']}") from None

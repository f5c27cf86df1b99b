"""Settings per SPEC §7: defaults that work locally, and one line naming the variable when wrong."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streams.cli import main
from streams.errors import ConfigError
from streams.settings import is_loopback, load_settings


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("SALESFLOOR_"):
            monkeypatch.delenv(name)
    s = load_settings()
    assert (s.kafka_bootstrap, s.topic_prefix, s.timezone, s.currency) == ("localhost:9092", "sales.", "UTC", "EUR")
    assert (s.lead_sla_seconds, s.thresholds, s.web_host, s.web_port, s.max_reps) == (
        300,
        (300, 3600),
        "127.0.0.1",
        6066,
        1000,
    )
    assert s.aiokafka_kwargs() == {"bootstrap_servers": "localhost:9092", "security_protocol": "PLAINTEXT"}
    assert (s.max_future_seconds, s.stages) == (300, ("qualification", "proposal", "negotiation"))


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SALESFLOOR_TIMEZONE", "Mars/Olympus"),
        ("SALESFLOOR_WEB_PORT", "sixty"),
        ("SALESFLOOR_WEB_PORT", "70000"),
        ("SALESFLOOR_ALERT_THRESHOLDS", "300,soon"),
        ("SALESFLOOR_ALERT_THRESHOLDS", "0"),
        ("SALESFLOOR_LEAD_SLA_SECONDS", "-5"),
        ("SALESFLOOR_CURRENCY", "euro"),
        ("SALESFLOOR_DEAL_STAGES", "qualification,,proposal"),
        ("SALESFLOOR_DEAL_STAGES", "demo,demo"),
        ("SALESFLOOR_DEAL_STAGES", "created,proposal"),
        ("SALESFLOOR_DEAL_STAGES", "Proposal Sent"),
        ("SALESFLOOR_MAX_FUTURE_SECONDS", "-1"),
        ("SALESFLOOR_KAFKA_BOOTSTRAP", "localhost"),
        ("SALESFLOOR_KAFKA_SECURITY_PROTOCOL", "TLS"),
        ("SALESFLOOR_MAX_REPS", "0"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()
    assert main(["recompute", "/dev/null"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and variable in err and "Traceback" not in err


def test_password_comes_from_a_file_and_is_not_in_the_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    monkeypatch.setenv("SALESFLOOR_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("SALESFLOOR_KAFKA_USER", "floor")
    monkeypatch.setenv("SALESFLOOR_KAFKA_PASSWORD_FILE", str(secret))
    s = load_settings()
    assert s.aiokafka_kwargs()["sasl_plain_password"] == "s3cret"  # noqa: S105 - the test's own secret
    assert "s3cret" not in repr(s) and "s3cret" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.9.10", True), ("localhost", True), ("::1", True), ("[::1]", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("board.example.com", False)],  # noqa: S104
)  # fmt: skip
def test_only_loopback_may_serve_without_a_token(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
    error = load_settings(web_host=host).exposure_error()
    assert (error is None) is loopback
    if error:
        assert "SALESFLOOR_WEB_HOST" in error and "SALESFLOOR_WEB_ALLOW_ANONYMOUS=1" in error
    assert load_settings(web_host=host, web_allow_anonymous=True).exposure_error() is None
    assert load_settings(web_host=host, web_token="t" * 16).exposure_error() is None


def test_the_web_token_comes_from_a_file_and_is_never_shown(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("  " + "a1" * 16 + "\n")
    s = load_settings(web_token_file=token_file)
    assert s.token() == "a1" * 16 and load_settings().token() is None
    with pytest.raises(ConfigError, match="SALESFLOOR_WEB_TOKEN=") as refused:
        load_settings(web_token="too-short")  # noqa: S106 - a refused one
    assert "too-short" not in str(refused.value)
    token_file.write_text("short\n")
    with pytest.raises(ConfigError, match="SALESFLOOR_WEB_TOKEN_FILE="):
        load_settings(web_token_file=token_file)

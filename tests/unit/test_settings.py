"""Settings: durations, API keys, and the refusal to start without keys."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from basewatch_projector.settings import Settings as ProjectorSettings
from basewatch_shared.settings import Scope, hash_key, parse_api_keys, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("15m", timedelta(minutes=15)),
        ("3d", timedelta(days=3)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2w", timedelta(weeks=2)),
        ("250ms", timedelta(milliseconds=250)),
        ("45", timedelta(seconds=45)),
        (" 3D ", timedelta(days=3)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "3 days", "x", "-5s", "0s", "3dd", "s"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_api_keys_parse_with_scopes_and_match_in_constant_time() -> None:
    keys = parse_api_keys(
        f"shop-app:ingest:{hash_key('s1')}, crm:read:{hash_key('s2')},"
        f"ops:ingest+read:{hash_key('s3')}"
    )
    assert [(k.name, k.scopes) for k in keys] == [
        ("shop-app", frozenset({Scope.INGEST})),
        ("crm", frozenset({Scope.READ})),
        ("ops", frozenset({Scope.INGEST, Scope.READ})),
    ]
    import hashlib

    assert keys[0].matches(hashlib.sha256(b"s1").digest())
    assert not keys[0].matches(hashlib.sha256(b"s2").digest())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("app:ingest", "name:scopes:sha256"),
        (f"app:write:{'a' * 64}", "scopes"),
        ("app:read:not-hex", "hex SHA-256"),
        (f"bad name:read:{'a' * 64}", "letters"),
        (f"a:read:{'a' * 64},a:ingest:{'b' * 64}", "unique"),
    ],
)
def test_bad_api_keys_are_refused(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_api_keys(entry)


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASEWATCH_AT_RISK_AFTER", "30s")
    monkeypatch.setenv("BASEWATCH_CHURN_AFTER", "2m")
    monkeypatch.setenv("BASEWATCH_API_KEYS", f"crm:read:{hash_key('k')}")
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    settings = ProjectorSettings(_env_file=None)
    assert settings.at_risk_after == timedelta(seconds=30)
    assert settings.churn_after == timedelta(minutes=2)
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert [k.name for k in settings.api_keys] == ["crm"]


def test_churn_must_come_after_at_risk() -> None:
    with pytest.raises(ValidationError, match="CHURN_AFTER"):
        ProjectorSettings.model_validate({"at_risk_after": "3d", "churn_after": "1d"})


def test_no_keys_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BASEWATCH_API_KEYS", raising=False)
    with pytest.raises(ValueError, match="no API keys"):
        ProjectorSettings(_env_file=None).require_keys()


@pytest.mark.parametrize(
    ("env", "every"),
    [
        ({}, timedelta(seconds=30)),  # 3 days: a tenth is far above the cap
        ({"at_risk_after": "4s", "churn_after": "8s"}, timedelta(seconds=0.4)),
        ({"at_risk_after": "4m", "churn_after": "8m"}, timedelta(seconds=24)),
        (
            {"product_thresholds": {"fast": {"at_risk_after": "2s", "churn_after": "5s"}}},
            timedelta(seconds=0.2),
        ),
        (
            {"at_risk_after": "4s", "churn_after": "8s", "sweep_interval": "5s"},
            timedelta(seconds=5),
        ),
    ],
)
def test_the_default_sweep_interval_follows_the_thresholds(
    env: dict[str, object], every: timedelta
) -> None:
    assert ProjectorSettings.model_validate(env).sweep_every == every

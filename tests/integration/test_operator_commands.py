"""The operator's commands (migrate, churn release, topics create) that cannot do their
work say why in one line and exit 1: no traceback, no secret."""

from __future__ import annotations

import socket

import pytest

from tests.support import exits
from tests.support.exits import run_command

REFUSED_DATABASE = "postgresql+asyncpg://postgres:s3cret@127.0.0.1:1/none"  # port 1 refuses


@pytest.mark.parametrize(
    ("args", "env", "why"),
    [
        (
            ["migrate"],
            {"DATABASE_URL": "mysql://db/x"},
            "DATABASE_URL must be PostgreSQL or SQLite, got 'mysql'",
        ),
        (
            ["migrate"],
            {"DATABASE_URL": REFUSED_DATABASE},
            "cannot reach the database at postgresql+asyncpg://postgres:***@127.0.0.1:1/none",
        ),
        (
            ["churn", "release"],
            {"BASEWATCH_AT_RISK_AFTER": "soon"},
            "BASEWATCH_AT_RISK_AFTER: not a duration",
        ),
        (
            ["churn", "release"],
            {"DATABASE_URL": REFUSED_DATABASE},
            "cannot reach the database at",
        ),
        (
            ["topics", "create", "--timeout", "1"],
            {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"},
            "no answer from the Kafka broker at 127.0.0.1:1",
        ),
        (
            ["topics", "create", "--timeout", "1"],
            {"BASEWATCH_TOPIC_PREFIX": "no spaces"},
            "BASEWATCH_TOPIC_PREFIX: String should match pattern",
        ),
    ],
    ids=["migrate-url", "migrate-down", "release-setting", "release-down", "topics-down", "prefix"],
)
async def test_a_command_that_cannot_work_says_why_in_one_line(
    args: list[str], env: dict[str, str], why: str
) -> None:
    code, err = await run_command(args, env)
    assert code == 1
    line = exits.one_line(
        err, " ".join(a for a in args if not a.startswith("-") and not a.isdigit())
    )
    assert why in line["msg"]
    assert "s3cret" not in err


@pytest.mark.parametrize("service", ["ingest", "projector"])
async def test_a_port_in_use_is_one_line(service: str, kafka_bootstrap: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = await run_command(
            [service, "--port", str(port)],
            {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "BASEWATCH_HOST": "127.0.0.1"},
        )
    assert code == 1
    line = exits.one_line(err, service)
    assert f"cannot listen on 127.0.0.1:{port}" in line["msg"]

"""How the projector ends when it must: a start that cannot succeed, and a bug.

A start that fails at any step (a bad setting, database down, migrations missing, broker
down) exits non-zero with one line that says why, no traceback, and leaves no
connection, Kafka client or task behind: before, ``app.py`` opened the engine and both
Kafka clients outside its ``try`` and a half-done start leaked them. A programming error is not an
outage: before, the consume loop retried any database error forever, a
``ProgrammingError`` included; now it ends the projector, non-zero, with its traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector import bootstrap, opening
from basewatch_projector.app import create_app
from basewatch_projector.errors import CannotStart
from basewatch_projector.settings import Settings
from basewatch_projector.storage.engine import create_engine
from basewatch_shared.topics import Topics
from tests.support import exits
from tests.support.databases import TestDatabase
from tests.support.exits import run_service
from tests.support.history import Out, record
from tests.support.kafka import produce
from tests.support.ports import free_port

REFUSED_DATABASE = "postgresql+asyncpg://postgres@127.0.0.1:1/none"  # port 1 refuses at once


async def run_projector(env: dict[str, str], within: float = 60) -> tuple[int, str]:
    """``basewatch projector`` as an operator starts it; its exit code and its stderr."""
    return await run_service("projector", env, within)


def one_line(stderr: str) -> dict[str, Any]:
    """The only line on stderr: why the projector cannot start."""
    return exits.one_line(stderr, "projector")


async def test_a_database_that_is_down_is_one_line(kafka_bootstrap: str) -> None:
    code, err = await run_projector(
        {"DATABASE_URL": REFUSED_DATABASE, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    )
    assert code == 1
    assert (
        "cannot reach the database at postgresql+asyncpg://postgres@127.0.0.1:1/none"
        in (one_line(err)["msg"])
    )


async def test_a_database_without_the_migrations_is_one_line(
    database: TestDatabase, kafka_bootstrap: str
) -> None:
    code, err = await run_projector({**database.env(), "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap})
    assert code == 1
    assert "run `basewatch migrate`" in one_line(err)["msg"]


async def test_a_broker_that_is_down_is_one_line(
    database: TestDatabase, migrated: AsyncEngine
) -> None:
    down = f"127.0.0.1:{free_port()}"
    code, err = await run_projector({**database.env(), "KAFKA_BOOTSTRAP_SERVERS": down})
    assert code == 1
    assert f"cannot reach the broker at {down}" in one_line(err)["msg"]


class Opened:
    """Every engine and Kafka client the bootstrap creates (the real ones, recorded)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.engines: list[tuple[AsyncEngine, Any]] = []  # with the pool it started with
        self.clients: list[AIOKafkaProducer | AIOKafkaConsumer] = []
        monkeypatch.setattr(opening, "create_engine", self._record(create_engine))
        monkeypatch.setattr(bootstrap, "AIOKafkaProducer", self._client(AIOKafkaProducer))
        monkeypatch.setattr(bootstrap, "AIOKafkaConsumer", self._client(AIOKafkaConsumer))

    def _record(self, create: Callable[..., AsyncEngine]) -> Callable[..., AsyncEngine]:
        def created(*args: Any, **kwargs: Any) -> AsyncEngine:
            engine = create(*args, **kwargs)
            self.engines.append((engine, engine.pool))
            return engine

        return created

    def _client(self, kind: Any) -> Callable[..., Any]:
        def created(*args: Any, **kwargs: Any) -> Any:
            client = kind(*args, **kwargs)
            self.clients.append(client)
            return client

        return created

    def assert_all_closed(self) -> None:
        """Each engine disposed (its first pool replaced and empty), each client stopped."""
        assert self.engines
        for engine, first_pool in self.engines:
            assert engine.pool is not first_pool, "the engine was not disposed"
            assert first_pool.checkedin() == 0 and first_pool.checkedout() == 0
        for client in self.clients:
            assert client._closed, f"{type(client).__name__} was not stopped"


async def assert_nothing_left_behind(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, kafka_clients: int
) -> None:
    """The start fails with CannotStart and closes everything it had opened (the engine
    and ``kafka_clients`` Kafka clients)."""
    opened = Opened(monkeypatch)
    running = asyncio.all_tasks()
    app = create_app(settings)
    with pytest.raises(CannotStart):
        async with app.router.lifespan_context(app):
            pytest.fail("the projector started")
    assert len(opened.clients) == kafka_clients
    opened.assert_all_closed()
    assert asyncio.all_tasks() == running


async def test_a_start_on_a_database_that_is_down_leaves_nothing_behind(
    projector_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = projector_settings(DATABASE_URL=REFUSED_DATABASE, database_schema=None)
    await assert_nothing_left_behind(settings, monkeypatch, kafka_clients=0)


async def test_a_start_without_the_migrations_leaves_nothing_behind(
    projector_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    await assert_nothing_left_behind(projector_settings(), monkeypatch, kafka_clients=0)


async def test_a_start_with_the_broker_down_leaves_nothing_behind(
    migrated: AsyncEngine,
    projector_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = projector_settings(KAFKA_BOOTSTRAP_SERVERS=f"127.0.0.1:{free_port()}")
    await assert_nothing_left_behind(settings, monkeypatch, kafka_clients=1)  # the producer


async def test_a_programming_error_ends_the_projector_with_its_traceback(
    database: TestDatabase,
    migrated: AsyncEngine,
    kafka_bootstrap: str,
    topics: Topics,
    group_id: str,
) -> None:
    env = {
        **database.env(),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "BASEWATCH_TOPIC_PREFIX": topics.prefix,
        "BASEWATCH_KAFKA_IDEMPOTENCE": "false",
        "BASEWATCH_CONSUMER_GROUP": group_id,
        "BASEWATCH_CONSUMER_SESSION_TIMEOUT": "2s",
    }
    async with migrated.begin() as conn:  # a table the code needs is gone: a bug to it
        await conn.execute(text("DROP TABLE purchases"))
    purchase = {
        "event_id": "buy-1",
        "type": "purchase",
        "occurred_at": "2026-11-02T10:00:00Z",
        "customer_id": "c1",
        "order_id": "o1",
        "product_id": "p1",
        "amount": "1",
        "currency": "EUR",
    }
    await produce(kafka_bootstrap, topics, [Out("customers", b"c1", record(purchase))])
    code, err = await run_projector(env, within=90)
    assert code == 1, err
    crashes = [json.loads(line) for line in err.splitlines() if "crashed" in line]
    assert crashes, err
    assert crashes[0]["level"] == "critical"
    assert "Traceback" in crashes[0]["exc"] and "purchases" in crashes[0]["exc"]


async def test_a_bad_setting_is_one_line_naming_it_not_its_value() -> None:
    secret = "s3cr3t-value-0f-the-operator"
    code, err = await run_projector({"BASEWATCH_SWEEP_INTERVAL": secret})
    assert code == 1
    assert "BASEWATCH_SWEEP_INTERVAL: not a duration" in one_line(err)["msg"]
    assert secret not in err

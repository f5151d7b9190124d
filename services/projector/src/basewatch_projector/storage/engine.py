"""The database engine: one per process, made in the lifespan, on PostgreSQL or SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

IDLE_IN_TRANSACTION = "5min"
_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
}


def normalize_url(url: str) -> URL:
    """Accept ``postgresql://`` and ``sqlite:///`` and pick the async driver for them."""
    parsed = make_url(url)
    driver = _DRIVERS.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    if parsed.drivername not in ("postgresql+asyncpg", "sqlite+aiosqlite"):
        raise ValueError(f"DATABASE_URL must be PostgreSQL or SQLite, got {parsed.drivername!r}")
    return parsed


def create_engine(url: str, *, schema: str | None = None, pre_ping: bool = True) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL and a busy timeout, PostgreSQL a schema.

    ``pre_ping``: each checkout first tests its connection (one round trip). Without it a
    connection that died is found by the statement that uses it, which fails; the pool
    then drops every connection as old as it."""
    parsed = normalize_url(url)
    connect_args: dict[str, Any] = {}
    if parsed.drivername.startswith("sqlite"):
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(
            parsed,
            connect_args={"timeout": 30},
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # JIT compiles "expensive" plans; for short OLTP statements it only adds latency.
    # The application name tells basewatch's sessions apart in pg_stat_activity, and
    # those of one schema from another's (several deployments, or tests, in one database).
    # No session of basewatch idles in a transaction for long (tests/integration/
    # test_open_transactions.py); one that would, a bug, is ended by the server rather
    # than keep every row version dead since from being vacuumed (the outbox's lock once
    # did that for the projector's whole life).
    settings = {
        "jit": "off",
        "application_name": application_name(schema),
        "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION,
    }
    if schema:
        settings["search_path"] = schema
    connect_args["server_settings"] = settings
    return create_async_engine(
        parsed,
        connect_args=connect_args,
        pool_size=10,
        max_overflow=10,
        pool_pre_ping=pre_ping,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
    )


def application_name(schema: str | None) -> str:
    """The name basewatch's PostgreSQL sessions carry: ``basewatch``, and the schema if any."""
    return f"basewatch {schema}" if schema else "basewatch"


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets the read API read while the consumer writes; NORMAL is durable in WAL mode
    # except for the last transactions on power loss, and the offsets commit with them.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()

"""Databases a test owns: PostgreSQL (a fresh schema) and SQLite (a fresh file)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.storage.engine import create_engine
from basewatch_projector.storage.migrate import migrate

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@dataclass(frozen=True)
class TestDatabase:
    """A database a test owns: its URL and, on PostgreSQL, its own schema."""

    __test__ = False  # not a test class, despite the name

    url: str
    schema: str | None

    @property
    def kind(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return "sqlite" if self.url.startswith("sqlite") else "postgresql"

    def engine(self) -> AsyncEngine:
        """A new engine on this database (the caller disposes it)."""
        return create_engine(self.url, schema=self.schema)

    async def migrate(self) -> None:
        """Apply every migration, with an engine of its own."""
        engine = self.engine()
        try:
            await migrate(engine)
        finally:
            await engine.dispose()

    def env(self) -> dict[str, str]:
        """The environment a basewatch process needs to use this database."""
        env = {"DATABASE_URL": self.url}
        if self.schema:
            env["BASEWATCH_DATABASE_SCHEMA"] = self.schema
        return env

    def settings(self) -> dict[str, str | None]:
        """The projector settings that point it at this database."""
        return {"DATABASE_URL": self.url, "database_schema": self.schema}


def sqlite_database(path: Path) -> TestDatabase:
    """A SQLite database in the file ``path`` (created on first use)."""
    return TestDatabase(url=f"sqlite+aiosqlite:///{path}", schema=None)


async def _admin(pg_url: str, statement: str) -> None:
    parsed = make_url(pg_url)
    conn = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_schema(pg_url: str) -> TestDatabase:
    """A fresh, empty PostgreSQL schema of its own name; ``drop_schema`` removes it."""
    schema = f"bwtest_{uuid.uuid4().hex[:12]}"
    await _admin(pg_url, f'CREATE SCHEMA "{schema}"')
    return TestDatabase(url=pg_url, schema=schema)


async def drop_schema(db: TestDatabase) -> None:
    """Drop a schema ``create_schema`` made, with everything in it."""
    await _admin(db.url, f'DROP SCHEMA "{db.schema}" CASCADE')


@asynccontextmanager
async def fresh_schema(pg_url: str) -> AsyncIterator[TestDatabase]:
    """A fresh, empty PostgreSQL schema, dropped when the block ends without an error."""
    db = await create_schema(pg_url)
    yield db
    await drop_schema(db)

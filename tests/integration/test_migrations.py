"""The same migrations build the same schema on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.storage.migrate import check_migrated, current_revision, migrate
from basewatch_projector.storage.tables import metadata
from tests.support.databases import TestDatabase


async def test_migrations_match_the_table_definitions(migrated: AsyncEngine) -> None:
    def diff(sync_conn: object) -> list[object]:
        context = MigrationContext.configure(sync_conn, opts={"compare_type": True})  # type: ignore[arg-type]
        differences: list[object] = compare_metadata(context, metadata)
        return differences

    async with migrated.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


async def test_migrate_is_idempotent_and_checked(database: TestDatabase) -> None:
    engine = database.engine()
    try:
        with pytest.raises(RuntimeError, match="basewatch migrate"):
            await check_migrated(engine)
        await migrate(engine)
        await migrate(engine)
        assert await current_revision(engine) == "0008"
        await check_migrated(engine)
    finally:
        await engine.dispose()

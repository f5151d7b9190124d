"""The stored offsets' compare-and-set, on SQLite and PostgreSQL: a batch moves every
partition it read from the offset it expected, or none (the caller rolls back)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.projection.offsets import Moves, advance_offsets, load_offsets

NOW = datetime(2026, 1, 5, tzinfo=UTC)
A, B, C = ("t.telemetry", 0), ("t.telemetry", 1), ("t.customers", 0)


class RolledBack(Exception):
    pass


async def _advance(engine: AsyncEngine, moves: Moves) -> bool:
    """Advance in a transaction that is rolled back when the compare-and-set fails."""
    try:
        async with engine.begin() as conn:
            if not await advance_offsets(conn, "g", moves, NOW):
                raise RolledBack
    except RolledBack:
        return False
    return True


async def _stored(engine: AsyncEngine) -> dict[tuple[str, int], int]:
    async with engine.connect() as conn:
        return await load_offsets(conn, "g", [A, B, C])


async def test_every_partition_moves_from_what_it_expected_or_none_does(
    migrated: AsyncEngine,
) -> None:
    assert await _advance(migrated, {A: (None, 10), B: (None, 5)})
    assert await _stored(migrated) == {A: 10, B: 5}
    # Rows and a new partition in one batch.
    assert await _advance(migrated, {A: (10, 20), B: (5, 7), C: (None, 3)})
    assert await _stored(migrated) == {A: 20, B: 7, C: 3}
    # Another member moved B meanwhile: nothing moves, A neither.
    assert not await _advance(migrated, {A: (20, 30), B: (5, 9)})
    assert await _stored(migrated) == {A: 20, B: 7, C: 3}
    # A partition that has a row already is not created again.
    assert not await _advance(migrated, {C: (None, 4)})
    assert await _stored(migrated) == {A: 20, B: 7, C: 3}
    # Another group's offsets are its own.
    async with migrated.begin() as conn:
        assert await advance_offsets(conn, "other", {A: (None, 1)}, NOW)
    assert await _stored(migrated) == {A: 20, B: 7, C: 3}

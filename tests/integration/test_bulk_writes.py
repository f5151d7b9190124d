"""The multi-row writes every projection uses (storage/bulk.py), on SQLite and PostgreSQL:
values come back as they went in, more rows than one statement holds are all written,
and a guarded update touches only the rows whose guard still holds the expected value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.storage.bulk import EXPECTED, STATEMENT_ROWS, update_rows, upsert
from basewatch_projector.storage.tables import customers

NOW = datetime(2026, 1, 5, 12, 0, 0, 123456, tzinfo=UTC)
# What a JSON document could spell differently from the column's own encoding.
TRAITS: dict[str, Any] = {
    "name": 'Zoë "Q" \\ O\'Brien \u2028 \U0001f600',
    "company": "",
    "nested": {"z": 1, "a": [1.5, None, True, "x"]},
}


CIDS = ("kept", "erased", "other")  # rows given together have the same keys


def _customer(cid: str, **fields: Any) -> dict[str, Any]:
    return {
        "customer_id": cid,
        "traits": {},
        "trait_times": {},
        "orders": 0,
        "installations_in_use": 0,
        "segment": "suspect",
        "status": "none",
        "first_seen_at": NOW,
        "updated_at": NOW,
        **fields,
    }


async def _rows(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    async with engine.connect() as conn:
        result = await conn.execute(select(customers).order_by(customers.c.customer_id))
        return {row["customer_id"]: dict(row) for row in result.mappings()}


async def test_an_upsert_of_more_rows_than_a_statement_writes_every_value_as_given(
    migrated: AsyncEngine,
) -> None:
    count = STATEMENT_ROWS + 7
    rows = [
        _customer(f"c{n:05}", traits=TRAITS, orders=n, first_purchase_at=NOW - timedelta(days=n))
        for n in range(count)
    ]
    async with migrated.begin() as conn:
        await upsert(conn, customers, rows, ["customer_id"], ["orders"])
        # A conflict overwrites only the columns named.
        again = [_customer("c00003", orders=99, traits={"other": 1})]
        await upsert(conn, customers, again, ["customer_id"], ["orders"])
    stored = await _rows(migrated)
    assert len(stored) == count
    assert stored["c00003"]["orders"] == 99
    assert stored["c00003"]["traits"] == TRAITS
    assert stored[f"c{count - 1:05}"]["first_purchase_at"] == NOW - timedelta(days=count - 1)
    assert stored["c00000"]["updated_at"] == NOW  # microseconds kept
    assert stored["c00000"]["country"] is None


async def test_a_guarded_update_writes_only_where_the_guard_holds_none_included(
    migrated: AsyncEngine,
) -> None:
    erased = NOW - timedelta(hours=1)
    async with migrated.begin() as conn:
        await upsert(
            conn,
            customers,
            [_customer(cid, erased_at=erased if cid == "erased" else None) for cid in CIDS],
            ["customer_id"],
            (),
        )
        updated = await update_rows(
            conn,
            customers,
            [
                {"customer_id": cid, "traits": TRAITS, "country": "DE", EXPECTED: None}
                for cid in ("kept", "erased", "missing")
            ],
            "customer_id",
            guard="erased_at",
        )
        assert updated == 1
        # Without a guard, every row found is written.
        assert (
            await update_rows(
                conn, customers, [{"customer_id": "other", "orders": 4}], "customer_id"
            )
            == 1
        )
        # The guard compared with a value: only the row that still holds it.
        moved = NOW + timedelta(seconds=1)
        rows = [
            {"customer_id": "kept", "updated_at": moved, EXPECTED: NOW},
            {"customer_id": "other", "updated_at": moved, EXPECTED: moved},
        ]
        assert await update_rows(conn, customers, rows, "customer_id", guard="updated_at") == 1
    stored = await _rows(migrated)
    assert (stored["kept"]["traits"], stored["kept"]["country"]) == (TRAITS, "DE")
    assert (stored["erased"]["traits"], stored["erased"]["country"]) == ({}, None)
    assert stored["other"]["orders"] == 4
    assert stored["kept"]["updated_at"] == NOW + timedelta(seconds=1)
    assert stored["other"]["updated_at"] == NOW


async def test_rows_given_together_with_different_columns_are_refused_before_any_write(
    migrated: AsyncEngine,
) -> None:
    """A statement's columns are its first row's: on PostgreSQL a later row without one
    of them wrote NULL there, and on SQLite a later row's extra column was dropped. Rows
    that differ are a caller's bug, refused before anything is written."""
    uneven = [_customer("a"), {k: v for k, v in _customer("b").items() if k != "orders"}]
    extra = [_customer("a"), _customer("b", country="DE")]
    async with migrated.begin() as conn:
        for rows in (uneven, extra, extra[::-1]):
            with pytest.raises(ValueError, match="same columns"):
                await upsert(conn, customers, rows, ["customer_id"], ["orders"])
        await upsert(conn, customers, [_customer(cid) for cid in CIDS], ["customer_id"], ())
        changes: list[dict[str, Any]] = [
            {"customer_id": "kept", "orders": 3},
            {"customer_id": "other", "segment": "x"},
        ]
        with pytest.raises(ValueError, match="same columns"):
            await update_rows(conn, customers, changes, "customer_id")
    stored = await _rows(migrated)
    assert set(stored) == set(CIDS)
    assert (stored["kept"]["orders"], stored["other"]["segment"]) == (0, "suspect")

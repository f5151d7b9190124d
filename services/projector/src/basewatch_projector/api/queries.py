"""Read-side queries for customers and installations: indexed selects, keyset pages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any, Final

from sqlalchemy import Column, Select, Table, select
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.revenue import revenue, revenue_sums
from basewatch_projector.errors import NotFound
from basewatch_projector.storage.tables import customers, installations, purchases

Document = dict[str, Any]
# A customer's installations are what clients send: one customer names the first ones,
# the installations list (?customer_id=) pages through all of them.
MAX_INSTALLATIONS: Final = 100
Filters = Mapping[str, str | None]

INSTALLATION_COLUMNS = tuple(
    installations.c[name]
    for name in (
        "installation_id",
        "customer_id",
        "product_id",
        "version",
        "platform",
        "installed_at",
        "last_heartbeat_at",
        "usage",
        "status",
        "status_changed_at",
    )
)
CUSTOMER_COLUMNS = tuple(
    customers.c[name]
    for name in (
        "customer_id",
        "traits",
        "segment",
        "status",
        "orders",
        "first_purchase_at",
        "last_purchase_at",
        "erased_at",
    )
)


def installation_doc(row: Row[Any]) -> Document:
    """The API form of an installation row."""
    return row._asdict()


def customer_doc(row: Mapping[str, Any], revenue: dict[str, str]) -> Document:
    """The API form of a customer row and its revenue; an erased one shows no traits."""
    erased = row["erased_at"] is not None
    traits = {} if erased else row["traits"] or {}
    return {**row, "traits": traits, "erased": erased, "revenue": revenue}


async def revenues(conn: AsyncConnection, ids: Collection[str]) -> dict[str, dict[str, str]]:
    """Revenue per currency of each customer, exact, never summed across currencies."""
    if not ids:
        return {}
    p = purchases.c
    rows = await conn.execute(
        select(p.customer_id, p.currency, *revenue_sums())
        .where(p.customer_id.in_(ids))
        .group_by(p.customer_id, p.currency)
        .order_by(p.customer_id, p.currency)
    )
    found: dict[str, dict[str, str]] = defaultdict(dict)
    for customer_id, currency, high, low in rows:
        found[customer_id][currency] = revenue(high, low)
    return found


async def installation(conn: AsyncConnection, installation_id: str) -> Document:
    """One installation, or NotFound."""
    row = (
        await conn.execute(
            select(*INSTALLATION_COLUMNS).where(installations.c.installation_id == installation_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"installation {installation_id!r} is unknown")
    return installation_doc(row)


async def customers_page(
    conn: AsyncConnection, filters: Filters, after: str | None, limit: int
) -> tuple[list[Document], str | None]:
    """A page of customers matching ``filters`` (column = value), and the last key if more."""
    query = _filtered(select(*CUSTOMER_COLUMNS), customers, filters)
    rows, last = await _keyset(conn, query, customers.c.customer_id, after, limit)
    found = await revenues(conn, [row.customer_id for row in rows])
    return [customer_doc(row._asdict(), found.get(row.customer_id, {})) for row in rows], last


async def installations_page(
    conn: AsyncConnection, filters: Filters, after: str | None, limit: int
) -> tuple[list[Document], str | None]:
    """A page of installations matching ``filters``, and the last key if there are more."""
    query = _filtered(select(*INSTALLATION_COLUMNS), installations, filters)
    rows, last = await _keyset(conn, query, installations.c.installation_id, after, limit)
    return [installation_doc(row) for row in rows], last


def _filtered(query: Select[Any], table: Table, filters: Filters) -> Select[Any]:
    for name, value in filters.items():
        if value is not None:
            query = query.where(table.c[name] == value)
    return query


async def _keyset(
    conn: AsyncConnection,
    query: Select[Any],
    key: Column[str],
    after: str | None,
    limit: int,
) -> tuple[list[Row[Any]], str | None]:
    """Rows after ``after`` in key order; one extra row tells whether a next page exists."""
    if after is not None:
        query = query.where(key > after)
    rows = (await conn.execute(query.order_by(key).limit(limit + 1))).all()
    if len(rows) <= limit:
        return list(rows), None
    return list(rows[:limit]), getattr(rows[limit - 1], key.name)

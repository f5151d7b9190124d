"""Read-side queries for customers and installations: indexed selects, keyset pages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    CompoundSelect,
    Select,
    String,
    Table,
    bindparam,
    cast,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from basewatch_projector.api.revenue import revenue, revenue_sums
from basewatch_projector.errors import NotFound
from basewatch_projector.storage.columns import Json, UtcDateTime
from basewatch_projector.storage.tables import customers, installations, purchases

Document = dict[str, Any]
# A customer's installations are what clients send: one customer names the first ones,
# the installations list (?customer_id=) pages through all of them.
MAX_INSTALLATIONS: Final = 100
Filters = Mapping[str, str | None]

_INSTALLATION_COLUMNS = tuple(
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
_CUSTOMER_COLUMNS = tuple(
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


async def customer(conn: AsyncConnection, customer_id: str) -> Document:
    """One customer with revenue and installations, or NotFound: one statement, so one
    snapshot without a transaction, and one round trip (see ``_CUSTOMER``)."""
    found: dict[str, Any] = {}
    owned: list[Document] = []
    money: dict[str, str] = {}
    for tag, *values in await conn.execute(_CUSTOMER, {"customer_id": customer_id}):
        if tag == _ROW:
            found = _named(_CUSTOMER_COLUMNS, values, _CUSTOMER_AT)
        elif tag == _OWNED:
            owned.append(_named(_INSTALLATION_COLUMNS, values, _INSTALLATION_AT))
        else:
            money[values[0]] = revenue(values[-2], values[-1])
    if not found:
        raise NotFound(f"customer {customer_id!r} is unknown")
    return {
        **customer_doc(found, money),
        "installations": owned[:MAX_INSTALLATIONS],
        "more_installations": len(owned) > MAX_INSTALLATIONS,
    }


async def installation(conn: AsyncConnection, installation_id: str) -> Document:
    """One installation, or NotFound."""
    row = (
        await conn.execute(
            select(*_INSTALLATION_COLUMNS).where(installations.c.installation_id == installation_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"installation {installation_id!r} is unknown")
    return installation_doc(row)


async def customers_page(
    conn: AsyncConnection, filters: Filters, after: str | None, limit: int
) -> tuple[list[Document], str | None]:
    """A page of customers matching ``filters`` (column = value), and the last key if more."""
    query = _filtered(select(*_CUSTOMER_COLUMNS), customers, filters)
    rows, last = await _keyset(conn, query, customers.c.customer_id, after, limit)
    found = await revenues(conn, [row.customer_id for row in rows])
    return [customer_doc(row._asdict(), found.get(row.customer_id, {})) for row in rows], last


async def installations_page(
    conn: AsyncConnection, filters: Filters, after: str | None, limit: int
) -> tuple[list[Document], str | None]:
    """A page of installations matching ``filters``, and the last key if there are more."""
    query = _filtered(select(*_INSTALLATION_COLUMNS), installations, filters)
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


# One customer in one statement: its row, its first installations and its revenue per
# currency as the branches of a UNION ALL, told apart by a tag. Each branch puts a
# column where the others put one of the same type (or NULL): six strings, three times,
# a JSON document, three numbers. The customer's branch comes first: its types decode
# every branch's values.
_ROW, _OWNED, _REVENUE = "customer", "installation", "revenue"
_WIDTHS = {"s": 6, "t": 3, "j": 1, "n": 3}
_TYPES: dict[str, TypeEngine[Any]] = {
    "s": String(),
    "t": UtcDateTime(),
    "j": Json(),
    "n": BigInteger(),
}


def _slots(tag: str, **columns: Any) -> Select[Any]:
    """A branch: ``tag``, then each slot's column (s1..s6, t1..t3, j1, n1..n3) or NULL."""
    values: list[Any] = [literal(tag, String()).label("tag")]
    for kind, width in _WIDTHS.items():
        for k in range(1, width + 1):
            column = columns.get(f"{kind}{k}")
            value = cast(null(), _TYPES[kind]) if column is None else column
            values.append(value.label(f"{kind}{k}"))
    return select(*values)


# Where each column of the customer and of an installation lands among the slots.
_CUSTOMER_AT = ("s1", "j1", "s2", "s3", "n1", "t1", "t2", "t3")
_INSTALLATION_AT = ("s1", "s2", "s3", "s4", "s5", "t1", "t2", "j1", "s6", "t3")
_SLOT_NAMES = tuple(f"{kind}{k}" for kind, width in _WIDTHS.items() for k in range(1, width + 1))


def _named(columns: tuple[Column[Any], ...], values: list[Any], at: tuple[str, ...]) -> Document:
    """A branch's values as the document of ``columns`` (which sit at slots ``at``)."""
    return {c.name: values[_SLOT_NAMES.index(slot)] for c, slot in zip(columns, at, strict=True)}


def _one_customer() -> CompoundSelect[Any]:
    wanted = bindparam("customer_id", type_=String())
    c, p = customers.c, purchases.c
    row = _slots(_ROW, **dict(zip(_CUSTOMER_AT, _CUSTOMER_COLUMNS, strict=True))).where(
        c.customer_id == wanted
    )
    first = (
        select(*_INSTALLATION_COLUMNS)
        .where(installations.c.customer_id == wanted)
        .order_by(installations.c.installation_id)
        .limit(MAX_INSTALLATIONS + 1)
        .subquery()
    )
    owned = _slots(
        _OWNED,
        **{
            slot: first.c[col.name]
            for slot, col in zip(_INSTALLATION_AT, _INSTALLATION_COLUMNS, strict=True)
        },
    )
    high, low = revenue_sums()
    money = (
        _slots(_REVENUE, s1=p.currency, n2=high, n3=low)
        .where(p.customer_id == wanted)
        .group_by(p.currency)
    )
    # In the database's order (its collation), as the installations list pages.
    return union_all(row, owned, money).order_by(literal_column("tag"), literal_column("s1"))


_CUSTOMER: Final = _one_customer()

"""``GET /v1/customers/{customer_id}`` in one statement: the customer's row, its first
installations and its revenue per currency as the branches of a UNION ALL, told apart by
a tag. One statement is one snapshot without a transaction, and one round trip to the
database where a transaction of three selects took five (each one more wait for the
interpreter lock while the consume thread applies).
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    Column,
    CompoundSelect,
    Select,
    String,
    bindparam,
    cast,
    literal,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.types import TypeEngine

from basewatch_projector.api.queries import (
    CUSTOMER_COLUMNS,
    INSTALLATION_COLUMNS,
    MAX_INSTALLATIONS,
    Document,
    customer_doc,
)
from basewatch_projector.api.revenue import revenue, revenue_sums
from basewatch_projector.errors import NotFound
from basewatch_projector.storage.columns import Json, UtcDateTime
from basewatch_projector.storage.tables import customers, installations, purchases

Positions = tuple[tuple[str, int], ...]  # per column: its name, the index of its slot


async def customer(conn: AsyncConnection, customer_id: str) -> Document:
    """One customer with revenue and installations, or NotFound."""
    found: dict[str, Any] = {}
    owned: list[Document] = []
    money: dict[str, str] = {}
    for tag, *values in await conn.execute(ONE_CUSTOMER, {"customer_id": customer_id}):
        if tag == _ROW:
            found = _named(values, _CUSTOMER_FROM)
        elif tag == _OWNED:
            owned.append(_named(values, _INSTALLATION_FROM))
        else:
            money[values[0]] = revenue(values[-2], values[-1])
    if not found:
        raise NotFound(f"customer {customer_id!r} is unknown")
    return {
        **customer_doc(found, money),
        "installations": owned[:MAX_INSTALLATIONS],
        "more_installations": len(owned) > MAX_INSTALLATIONS,
    }


# Each branch of the statement puts a column where the others put one of the same type
# (or NULL): six strings, three times,
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


def _positions(
    columns: tuple[Column[Any], ...], at: tuple[str, ...]
) -> tuple[tuple[str, int], ...]:
    """Each column's name and the index of its slot ``at`` among a branch's values."""
    return tuple((c.name, _SLOT_NAMES.index(slot)) for c, slot in zip(columns, at, strict=True))


_CUSTOMER_FROM = _positions(CUSTOMER_COLUMNS, _CUSTOMER_AT)
_INSTALLATION_FROM = _positions(INSTALLATION_COLUMNS, _INSTALLATION_AT)


def _named(values: list[Any], positions: Positions) -> Document:
    """A branch's values as a document, by ``_positions``."""
    return {name: values[k] for name, k in positions}


def _one_customer() -> CompoundSelect[Any]:
    wanted = bindparam("customer_id", type_=String())
    c, p = customers.c, purchases.c
    row = _slots(_ROW, **dict(zip(_CUSTOMER_AT, CUSTOMER_COLUMNS, strict=True))).where(
        c.customer_id == wanted
    )
    first = (
        select(*INSTALLATION_COLUMNS)
        .where(installations.c.customer_id == wanted)
        .order_by(installations.c.installation_id)
        .limit(MAX_INSTALLATIONS + 1)
        .subquery()
    )
    owned = _slots(
        _OWNED,
        **{
            slot: first.c[col.name]
            for slot, col in zip(_INSTALLATION_AT, INSTALLATION_COLUMNS, strict=True)
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


ONE_CUSTOMER: Final = _one_customer()  # also sent by bench.projector, straight

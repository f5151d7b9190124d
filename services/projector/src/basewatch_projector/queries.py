"""Read-side queries: plain selects that turn rows into API documents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.errors import NotFound
from basewatch_projector.tables import customers, installations, purchases
from basewatch_shared.money import from_micros

_INSTALLATION_COLUMNS = (
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


def installation_doc(row: Any) -> dict[str, Any]:
    """The API form of an installation row."""
    return {name: getattr(row, name) for name in _INSTALLATION_COLUMNS}


async def revenue(conn: AsyncConnection, customer_id: str) -> dict[str, str]:
    """Revenue per currency, exact, never summed across currencies."""
    rows = await conn.execute(
        select(purchases.c.currency, func.sum(purchases.c.amount_micros))
        .where(purchases.c.customer_id == customer_id)
        .group_by(purchases.c.currency)
        .order_by(purchases.c.currency)
    )
    return {currency: str(from_micros(int(total))) for currency, total in rows}


async def customer(conn: AsyncConnection, customer_id: str) -> dict[str, Any]:
    """One customer with revenue and installations, or NotFound."""
    row = (
        await conn.execute(select(customers).where(customers.c.customer_id == customer_id))
    ).one_or_none()
    if row is None:
        raise NotFound(f"customer {customer_id!r} is unknown")
    insts = await conn.execute(
        select(installations)
        .where(installations.c.customer_id == customer_id)
        .order_by(installations.c.installation_id)
    )
    return {
        "customer_id": row.customer_id,
        "traits": row.traits,
        "segment": row.segment,
        "status": row.status,
        "orders": row.orders,
        "revenue": await revenue(conn, customer_id),
        "first_purchase_at": row.first_purchase_at,
        "last_purchase_at": row.last_purchase_at,
        "installations": [installation_doc(i) for i in insts],
    }


async def installation(conn: AsyncConnection, installation_id: str) -> dict[str, Any]:
    """One installation, or NotFound."""
    row = (
        await conn.execute(
            select(installations).where(installations.c.installation_id == installation_id)
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"installation {installation_id!r} is unknown")
    return installation_doc(row)

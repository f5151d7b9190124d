"""One product: what was sold against what is installed and in use, by version."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.documents import INSTALLATION_STATUSES
from basewatch_projector.errors import NotFound
from basewatch_projector.tables import installations, purchases
from basewatch_shared.contract.money import from_micros


def nulls_last(value: str | None) -> tuple[bool, str]:
    """Sort key: text order, None after every value."""
    return value is None, value or ""


def tally(by_status: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Installation counts: the total and one count per status, zeros included."""
    counts = dict.fromkeys(INSTALLATION_STATUSES, 0)
    for status, n in by_status:
        counts[status] += n
    return {"installations": sum(counts.values()), **counts}


async def product(conn: AsyncConnection, product_id: str) -> dict[str, Any]:
    """Units sold, orders and revenue per currency beside installations by status and version.

    NotFound if the product has neither purchases nor installations.
    """
    p, i = purchases.c, installations.c
    sales = (
        await conn.execute(
            select(p.currency, func.sum(p.quantity), func.sum(p.amount_micros))
            .where(p.product_id == product_id)
            .group_by(p.currency)
            .order_by(p.currency)
        )
    ).all()
    versions: dict[str | None, list[tuple[str, int]]] = defaultdict(list)
    for version, status, n in await conn.execute(
        select(i.version, i.status, func.count())
        .where(i.product_id == product_id)
        .group_by(i.version, i.status)
    ):
        versions[version].append((status, n))
    if not sales and not versions:
        raise NotFound(f"product {product_id!r} has no purchases and no installations")
    return {
        "product_id": product_id,
        "units_sold": sum(int(units) for _, units, _ in sales),
        "orders": await _orders(conn, product_id) if sales else 0,
        "revenue": {currency: str(from_micros(int(total))) for currency, _, total in sales},
        **tally(pair for pairs in versions.values() for pair in pairs),
        "versions": [
            {"version": version, **tally(versions[version])}
            for version in sorted(versions, key=nulls_last)
        ],
    }


async def _orders(conn: AsyncConnection, product_id: str) -> int:
    # Order ids are the client's: two customers may both have an order "1001".
    p = purchases.c
    orders = (
        select(p.customer_id, p.order_id).where(p.product_id == product_id).distinct().subquery()
    )
    return int(await conn.scalar(select(func.count()).select_from(orders)) or 0)

"""``/v1/products/{product_id}``: what was sold against what is installed and in use,
by version."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Path
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.deps import Conn
from basewatch_projector.api.documents import Product
from basewatch_projector.api.problems import ONE
from basewatch_projector.api.revenue import revenue, revenue_sums
from basewatch_projector.errors import NotFound
from basewatch_projector.storage.tables import installations, purchases
from basewatch_shared.contract.scalars import Identifier
from basewatch_shared.contract.vocabulary import InstallationStatus

# Versions are what clients send: a product's answer names the first ones.
MAX_VERSIONS: Final = 100
router = APIRouter()


@router.get("/products/{product_id}", response_model=Product, responses=ONE)
async def get_product(product_id: Annotated[Identifier, Path()], conn: Conn) -> dict[str, Any]:
    """Units sold, orders and revenue beside installations by status, overall and by version."""
    return await product(conn, product_id)


def nulls_last(value: str | None) -> tuple[bool, str]:
    """Sort key: text order, None after every value."""
    return value is None, value or ""


def tally(by_status: Iterable[tuple[str, int]]) -> dict[str, int]:
    """Installation counts: the total and one count per status, zeros included."""
    counts: dict[str, int] = dict.fromkeys(InstallationStatus, 0)
    for status, n in by_status:
        counts[status] += n
    return {"installations": sum(counts.values()), **counts}


async def product(conn: AsyncConnection, product_id: str) -> dict[str, Any]:
    """Units sold, orders and revenue per currency beside installations by status and version.

    NotFound if the product has neither purchases nor installations.
    """
    p = purchases.c
    sales = (
        await conn.execute(
            select(p.currency, func.sum(p.quantity), *revenue_sums())
            .where(p.product_id == product_id)
            .group_by(p.currency)
            .order_by(p.currency)
        )
    ).all()
    versions = await _by_version(conn, product_id)
    if not sales and not versions:
        raise NotFound(f"product {product_id!r} has no purchases and no installations")
    return {
        "product_id": product_id,
        "units_sold": sum(int(units) for _, units, _, _ in sales),
        "orders": await _orders(conn, product_id) if sales else 0,
        "revenue": {currency: revenue(high, low) for currency, _, high, low in sales},
        **tally(pair for pairs in versions.values() for pair in pairs),
        "versions": [
            {"version": version, **tally(versions[version])}
            for version in sorted(versions, key=nulls_last)[:MAX_VERSIONS]
        ],
        "more_versions": len(versions) > MAX_VERSIONS,
    }


async def _by_version(
    conn: AsyncConnection, product_id: str
) -> dict[str | None, list[tuple[str, int]]]:
    """Per version, the product's installations by status."""
    i = installations.c
    versions: dict[str | None, list[tuple[str, int]]] = defaultdict(list)
    for version, status, n in await conn.execute(
        select(i.version, i.status, func.count())
        .where(i.product_id == product_id)
        .group_by(i.version, i.status)
    ):
        versions[version].append((status, n))
    return versions


async def _orders(conn: AsyncConnection, product_id: str) -> int:
    # Order ids are the client's: two customers may both have an order "1001".
    p = purchases.c
    orders = (
        select(p.customer_id, p.order_id).where(p.product_id == product_id).distinct().subquery()
    )
    return int(await conn.scalar(select(func.count()).select_from(orders)) or 0)

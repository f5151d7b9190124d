"""The summary: the customer base, the installed base, and where they overlap.

Three grouped queries over the two tables, whatever their size; the caller runs them
in one snapshot so that the numbers agree with each other.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.documents import CUSTOMER_STATUSES, PAYING, SEGMENTS
from basewatch_projector.products import nulls_last, tally
from basewatch_projector.projection import IN_USE
from basewatch_projector.tables import customers, installations


async def summary(conn: AsyncConnection) -> dict[str, Any]:
    """Customers by segment and status, installations by status and product, the overlap."""
    c, i = customers.c, installations.c
    kinds = {
        (segment, status): n
        for segment, status, n in await conn.execute(
            select(c.segment, c.status, func.count()).group_by(c.segment, c.status)
        )
    }
    products: dict[str | None, list[tuple[str, int]]] = defaultdict(list)
    for product_id, status, n in await conn.execute(
        select(i.product_id, i.status, func.count()).group_by(i.product_id, i.status)
    ):
        products[product_id].append((status, n))
    # An owner that is unknown (no customer_id, so no row joins) has not paid either.
    unpaid_in_use = await conn.scalar(
        select(func.count())
        .select_from(installations.outerjoin(customers, c.customer_id == i.customer_id))
        .where(i.status.in_(IN_USE), or_(c.customer_id.is_(None), c.orders == 0))
    )

    def count(
        segments: tuple[str, ...] = SEGMENTS, statuses: tuple[str, ...] = CUSTOMER_STATUSES
    ) -> int:
        return sum(kinds.get((s, t), 0) for s in segments for t in statuses)

    by_status = tally(pair for pairs in products.values() for pair in pairs)
    del by_status["installations"]
    return {
        "customer_base": {
            "total": count(PAYING),
            "by_segment": {s: count(segments=(s,)) for s in SEGMENTS},
            "by_status": {t: count(statuses=(t,)) for t in CUSTOMER_STATUSES},
        },
        "installed_base": {
            "total": sum(by_status[s] for s in IN_USE),
            "by_status": by_status,
            "by_product": [
                {"product_id": product_id, **tally(products[product_id])}
                for product_id in sorted(products, key=nulls_last)
            ],
        },
        "overlap": {
            "paying_and_active": count(PAYING, ("active",)),
            "paying_and_lapsed": count(PAYING, ("lapsed",)),
            "paying_never_installed": count(PAYING, ("never_installed",)),
            "active_not_paying_customers": count(("prospect",), ("active",)),
            "active_not_paying_installations": int(unpaid_in_use or 0),
        },
    }

"""``/v1/summary``: the customer base, the installed base, and where they overlap.

Read from the counts the database keeps (``storage/counts.py``): a few rows, one
snapshot, so the numbers agree with each other, whatever the size of the tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Final

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.deps import OneStatement
from basewatch_projector.api.documents import Summary
from basewatch_projector.api.products import nulls_last, tally
from basewatch_projector.storage.counts import CUSTOMERS, kept
from basewatch_shared.contract.vocabulary import (
    IN_USE,
    PAYING,
    CustomerStatus,
    Segment,
)

MAX_PRODUCTS: Final = 100
router = APIRouter()


@router.get("/summary", response_model=Summary)
async def get_summary(conn: OneStatement) -> dict[str, Any]:
    """The customer base, the installed base, and their overlap."""
    return await summary(conn)


async def summary(conn: AsyncConnection) -> dict[str, Any]:
    """Customers by segment and status, installations by status and product, the overlap."""
    kinds: dict[tuple[str | None, str], int] = {}
    in_use_not_paid = 0
    products: dict[str | None, list[tuple[str, int]]] = defaultdict(list)
    for count in await kept(conn):
        if count.base == CUSTOMERS:  # label: the segment
            kinds[(count.label, count.status)] = count.n
            if count.label == Segment.PROSPECT:  # an owner that has not purchased
                in_use_not_paid += count.used
        else:  # label: the product; used: in use, whose owner is unknown
            products[count.label].append((count.status, count.n))
            in_use_not_paid += count.used
    return _document(kinds, products, in_use_not_paid)


def _document(
    kinds: dict[tuple[str | None, str], int],
    products: dict[str | None, list[tuple[str, int]]],
    in_use_not_paid: int,
) -> dict[str, Any]:
    """The summary document from the grouped counts."""

    def count(segments: Iterable[str] = Segment, statuses: Iterable[str] = CustomerStatus) -> int:
        return sum(kinds.get((s, t), 0) for s in segments for t in statuses)

    return {
        "customer_base": {
            "total": count(PAYING),
            "by_segment": {s: count(segments=(s,)) for s in Segment},
            "by_status": {t: count(statuses=(t,)) for t in CustomerStatus},
        },
        "installed_base": _installed_base(products),
        "overlap": {
            "paying_and_active": count(PAYING, (CustomerStatus.ACTIVE,)),
            "paying_and_lapsed": count(PAYING, (CustomerStatus.LAPSED,)),
            "paying_never_installed": count(PAYING, (CustomerStatus.NEVER_INSTALLED,)),
            "active_not_paying_customers": count((Segment.PROSPECT,), (CustomerStatus.ACTIVE,)),
            "active_not_paying_installations": in_use_not_paid,
        },
    }


def _installed_base(products: dict[str | None, list[tuple[str, int]]]) -> dict[str, Any]:
    """Installations by status, those in use, and each product's."""
    by_status = tally(pair for pairs in products.values() for pair in pairs)
    del by_status["installations"]
    # Products are what clients invent: the summary names the first ones (more_products
    # says when there are others); each one's numbers are at /v1/products/{product_id}.
    shown = sorted(products, key=nulls_last)[:MAX_PRODUCTS]
    return {
        "total": sum(by_status[s] for s in IN_USE),
        "by_status": by_status,
        "by_product": [
            {"product_id": product_id, **tally(products[product_id])} for product_id in shown
        ],
        "more_products": len(products) > MAX_PRODUCTS,
    }

"""``/v1/summary``: the customer base, the installed base, and where they overlap.

Two grouped counts and an indexed count, whatever the size of the tables, in one
statement: one snapshot, so the numbers agree with each other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any, Final

from fastapi import APIRouter
from sqlalchemy import CompoundSelect, Integer, String, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.deps import Conn
from basewatch_projector.api.documents import Summary
from basewatch_projector.api.products import nulls_last, tally
from basewatch_projector.storage.tables import customers, installations
from basewatch_shared.contract.vocabulary import (
    IN_USE,
    PAYING,
    CustomerStatus,
    Segment,
)

MAX_PRODUCTS: Final = 100
# Which count a row of the one statement belongs to.
_CUSTOMERS, _INSTALLATIONS, _UNOWNED = "customers", "installations", "unowned"
router = APIRouter()


@router.get("/summary", response_model=Summary)
async def get_summary(conn: Conn) -> dict[str, Any]:
    """The customer base, the installed base, and their overlap."""
    return await summary(conn)


async def summary(conn: AsyncConnection) -> dict[str, Any]:
    """Customers by segment and status, installations by status and product, the overlap."""
    kinds: dict[tuple[str, str], int] = {}
    prospects_in_use = unknown = 0
    products: dict[str | None, list[tuple[str, int]]] = defaultdict(list)
    for part, first, second, status, n, used in await conn.execute(_COUNTS):
        if part == _CUSTOMERS:  # first: the segment, second: the status
            kinds[(first, second)] = n
            if first == Segment.PROSPECT:  # an owner that has not purchased
                prospects_in_use += int(used or 0)
        elif part == _INSTALLATIONS:  # first: the product, second: the version
            products[first].append((status, n))
        else:
            unknown = n
    return _document(kinds, products, prospects_in_use + unknown)


def _counts() -> CompoundSelect[Any]:
    """The three counts in one statement: one round trip, not three (while the consume
    thread applies, each round trip waits for the interpreter lock)."""
    c, i = customers.c, installations.c
    text, number = String(), Integer()
    by_customer = select(
        literal(_CUSTOMERS, text),
        c.segment,
        c.status,
        null().cast(text),
        func.count(),
        func.sum(c.installations_in_use),
    ).group_by(c.segment, c.status)
    # By version too: the groups then follow an index on (product_id, version, status),
    # which an index-only scan counts without hashing; the versions are summed here.
    by_installation = select(
        literal(_INSTALLATIONS, text),
        i.product_id,
        i.version,
        i.status,
        func.count(),
        null().cast(number),
    ).group_by(i.product_id, i.version, i.status)
    # Installations in use whose owner has not purchased: the prospects' (kept on the
    # customer rows) plus those whose owner is unknown (one indexed count).
    unowned = (
        select(
            literal(_UNOWNED, text),
            null().cast(text),
            null().cast(text),
            null().cast(text),
            func.count(),
            null().cast(number),
        )
        .select_from(installations)
        .where(i.customer_id.is_(None), i.status.in_(IN_USE))
    )
    return union_all(by_customer, by_installation, unowned)


_COUNTS: Final = _counts()


def _document(
    kinds: dict[tuple[str, str], int],
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

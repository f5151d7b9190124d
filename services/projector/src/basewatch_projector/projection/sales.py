"""Sales per period (GET /v1/sales), counted where the purchases are stored.

A batch's new ledger rows (``customers.insert_purchases``) add their deltas to
``sales_pending`` at their ``occurred_at``, in the batch's transaction: units, lines
and the revenue's two parts (``api/revenue.py``) per product and currency, and orders:
an order counts once per product, at the time (and in the currency) of its first line
of that product, by (occurred_at, event_id). A late line that comes before the first
moves the order: -1 where it was, +1 at the new first line. The history sample sums
the pending deltas into ``sales_totals`` (``history/sales.py``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.storage.bulk import any_of, upsert
from basewatch_projector.storage.tables import purchases, sales_pending

_SPLIT: Final = 10**9  # api/revenue.py: each part stays far below 2^63 when summed
Line = tuple[datetime, str, str]  # (occurred_at, event_id, currency): an order's line
Key = tuple[str, str, datetime]  # (product_id, currency, occurred_at)
Order = tuple[str, str, str]  # (customer_id, order_id, product_id)
FIELDS: Final = ("units", "orders", "lines", "high", "low")
KEY: Final = ("product_id", "currency", "occurred_at")


def sale_deltas(
    new: Sequence[dict[str, Any]], earlier: dict[Order, Line]
) -> dict[Key, Counter[str]]:
    """The deltas of ``new`` ledger rows, given each order's first line before them."""
    deltas: dict[Key, Counter[str]] = {}
    first: dict[Order, Line] = {}
    for row in new:
        key = (row["product_id"], row["currency"], row["occurred_at"])
        add = deltas.setdefault(key, Counter())
        micros = int(row["amount_micros"])
        add.update(units=row["quantity"], lines=1, high=micros // _SPLIT, low=micros % _SPLIT)
        order = (row["customer_id"], row["order_id"], row["product_id"])
        line = (row["occurred_at"], row["event_id"], row["currency"])
        first[order] = min(first.get(order, line), line)
    for order, line in first.items():
        was = earlier.get(order)
        if was is not None and was <= line:
            continue
        if was is not None:
            deltas.setdefault((order[2], was[2], was[0]), Counter())["orders"] -= 1
        deltas.setdefault((order[2], line[2], line[0]), Counter())["orders"] += 1
    return deltas


async def _earlier(
    conn: AsyncConnection, orders: Iterable[Order], new_ids: set[str]
) -> dict[Order, Line]:
    """Each order's first line of its product among the ledger rows before this batch."""
    # Two array parameters, filtered to the exact orders here: a tuple IN over a batch's
    # thousands of orders exceeded PostgreSQL's stack depth (every batch failed, forever).
    wanted = set(orders)
    p = purchases.c
    query = select(p.customer_id, p.order_id, p.product_id, p.occurred_at, p.event_id, p.currency)
    query = query.where(
        any_of(conn, p.customer_id, {customer for customer, _, _ in wanted}),
        any_of(conn, p.order_id, {order for _, order, _ in wanted}),
    )
    found: dict[Order, Line] = {}
    for customer, order, product, at, event_id, currency in await conn.execute(query):
        if event_id in new_ids or (customer, order, product) not in wanted:
            continue
        key, line = (customer, order, product), (at, event_id, currency)
        found[key] = min(found.get(key, line), line)
    return found


async def add_sales(conn: AsyncConnection, new: Sequence[dict[str, Any]]) -> None:
    """Add the deltas of ``new`` ledger rows (already inserted) to ``sales_pending``."""
    if not new:
        return
    orders = {(r["customer_id"], r["order_id"], r["product_id"]) for r in new}
    earlier = await _earlier(conn, orders, {r["event_id"] for r in new})
    rows = [
        {"product_id": product, "currency": currency, "occurred_at": at}
        | {name: delta[name] for name in FIELDS}
        for (product, currency, at), delta in sorted(sale_deltas(new, earlier).items())
    ]
    # The cached unnest statement of storage/bulk.py: a multi-row VALUES was a new
    # statement, compiled anew, for every batch (py-spy: ~7 % of a catch-up).
    await upsert(conn, sales_pending, rows, KEY, FIELDS, adding=True)

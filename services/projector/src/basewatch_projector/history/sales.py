"""Sales per step (GET /v1/sales): running totals per product, summed at each sample.

``sales_pending`` holds the deltas the batches stored by ``occurred_at``
(``projection/sales.py``). The history sample takes them all and adds each to the
running totals of its product from its bucket on: the bucket is the first history
boundary at or after ``occurred_at``, so a late purchase changes its own step and those
after it in the totals, never "now". A step's sales (t - step, t] are the totals at t
less those at t - step (two index probes per product), plus the deltas still pending
in it: live and exact, in one snapshot. A total is ``{"units", "orders", "revenue":
{currency: [high, low, lines]}}`` (the revenue's two parts: ``api/revenue.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Final

from sqlalchemy import delete, func, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.history.steps import EPOCH
from basewatch_projector.storage.bulk import upsert
from basewatch_projector.storage.probes import last_at, last_at_each
from basewatch_projector.storage.tables import sales_pending, sales_totals

Sums = dict[str, Any]
_US: Final = timedelta(microseconds=1)


def zero() -> Sums:
    return {"units": 0, "orders": 0, "revenue": {}}


def add(total: Sums, delta: Sums, sign: int = 1) -> Sums:
    """``total`` plus (or, with sign -1, less) ``delta``, as a new value (the revenue
    lists are never changed in place, so the new value may share them with ``total``)."""
    revenue = dict(total["revenue"])
    for currency, (high, low, lines) in delta["revenue"].items():
        was = revenue.get(currency)
        if was is None:
            revenue[currency] = [sign * high, sign * low, sign * lines]
        else:  # a profile of /v1/sales: the zip-and-copy version took half its time
            revenue[currency] = [was[0] + sign * high, was[1] + sign * low, was[2] + sign * lines]
    return {
        "units": total["units"] + sign * delta["units"],
        "orders": total["orders"] + sign * delta["orders"],
        "revenue": revenue,
    }


def _delta(units: int, orders: int, currency: str, parts: Sequence[int]) -> Sums:
    return {"units": units, "orders": orders, "revenue": {currency: list(parts)}}


def bucket_of(at: datetime, interval: timedelta) -> datetime:
    """The first boundary at or after ``at``: a step (t - step, t] holds ``at``."""
    return EPOCH - ((EPOCH - at) // interval) * interval


async def settle_sales(conn: AsyncConnection, interval: timedelta) -> int:
    """Add every pending delta to the running totals; return how many were taken."""
    s = sales_pending.c
    taken = (
        await conn.execute(
            delete(sales_pending).returning(
                s.product_id, s.currency, s.occurred_at, s.units, s.orders, s.high, s.low, s.lines
            )
        )
    ).all()
    deltas: dict[str, dict[datetime, Sums]] = defaultdict(dict)
    for product, currency, at, units, orders, *parts in taken:
        per_bucket = deltas[product]
        bucket = bucket_of(at, interval)
        per_bucket[bucket] = add(
            per_bucket.get(bucket, zero()), _delta(units, orders, currency, parts)
        )
    for product, by_bucket in sorted(deltas.items()):
        await _add_from(conn, product, by_bucket)
    return len(taken)


async def _add_from(conn: AsyncConnection, product: str, deltas: dict[datetime, Sums]) -> None:
    """Add ``deltas`` (per bucket) to the product's totals at their bucket and after."""
    t = sales_totals.c
    first = min(deltas)
    (before,) = await last_at(conn, t.sums, t.bucket, [t.product_id == product], [first - _US])
    query = select(t.bucket, t.sums).where(t.product_id == product, t.bucket >= first)
    stored: dict[datetime, Sums] = dict((await conn.execute(query)).all())
    old, added, rows = before or zero(), zero(), []
    for bucket in sorted(stored.keys() | deltas.keys()):
        old = stored.get(bucket, old)
        added = add(added, deltas.get(bucket, zero()))
        rows.append({"product_id": product, "bucket": bucket, "sums": add(old, added)})
    await upsert(conn, sales_totals, rows, ["product_id", "bucket"], ["sums"])


async def products_sold(conn: AsyncConnection, limit: int) -> list[str]:
    """The products with totals or pending deltas, at most ``limit``, in order: the
    totals' products one index probe each (a loose index scan), not one per row."""
    t = sales_totals.c
    first = select(func.min(t.product_id).label("id")).cte("seen", recursive=True)
    after = select(func.min(t.product_id)).where(t.product_id > first.c.id).scalar_subquery()
    seen = first.union_all(select(after).where(first.c.id.is_not(None)))
    found = union(
        select(seen.c.id.label("product_id")).where(seen.c.id.is_not(None)),
        select(sales_pending.c.product_id).distinct(),
    ).subquery()
    query = select(found.c.product_id).order_by(found.c.product_id).limit(limit)
    return list((await conn.execute(query)).scalars())


async def sales_steps(
    conn: AsyncConnection, products: Sequence[str], times: Sequence[datetime], step: timedelta
) -> dict[str, list[Sums]]:
    """Per product, the sales in each step (t - step, t]: totals plus pending."""
    t, s = sales_totals.c, sales_pending.c
    at = [times[0] - step, *times]
    found: dict[str, list[Sums]] = {
        product: [add(after or zero(), before or zero(), -1) for before, after in pairwise(totals)]
        for product, totals in (
            await last_at_each(conn, t.sums, t.bucket, t.product_id, products, at)
        ).items()
    }
    pending = select(
        s.product_id, s.currency, s.occurred_at, s.units, s.orders, s.high, s.low, s.lines
    )
    pending = pending.where(s.occurred_at > times[0] - step, s.occurred_at <= times[-1])
    if len(products) == 1:
        pending = pending.where(s.product_id == products[0])
    for product, currency, at, units, orders, *parts in await conn.execute(pending):
        k = -((times[0] - at) // step)  # ceil((at - t0) / step)
        if product in found:
            found[product][k] = add(found[product][k], _delta(units, orders, currency, parts))
    return found

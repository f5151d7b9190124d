"""``/v1/sales``: units sold, orders and revenue per product and step, from the ledger.

Read from the purchase ledger at each request, bucketed by ``occurred_at``: a late
purchase lands in the step it happened in, and a replay answers the same. A step's
value at time t is what happened in (t - step, t], as for the signals of
``/v1/history``. The step is found in SQL with integer microseconds, exact on both
databases (``storage/instants.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.deps import Conn, State
from basewatch_projector.api.ranges import Since, Step, Until, invalid, step_range
from basewatch_projector.api.revenue import revenue, revenue_sums
from basewatch_projector.history.series import MAX_VALUES
from basewatch_projector.history.steps import format_duration
from basewatch_projector.storage.instants import step_index
from basewatch_projector.storage.tables import purchases
from basewatch_shared.contract.scalars import Identifier

router = APIRouter()
_US: Final = timedelta(microseconds=1)


class ProductSales(BaseModel):
    """One product's sales per step (t - step, t]."""

    product_id: str
    units: list[int] = Field(description="units sold (the purchases' quantities)")
    orders: list[int] = Field(description="distinct orders (customer_id, order_id)")
    revenue: dict[str, list[str]] = Field(
        description="per currency, exact decimal strings; never summed across currencies"
    )


class Sales(BaseModel):
    """Sales per product at the step boundaries between ``since`` and ``until``."""

    step: str = Field(examples=["1d"])
    interval: str = Field(examples=["1h"])
    times: list[datetime]
    products: list[ProductSales]


async def _products(
    conn: AsyncConnection, times: Sequence[datetime], step: timedelta, product_id: str | None
) -> list[str]:
    """The products sold in the range (or the one asked for); 422 past the bound."""
    if product_id is not None:
        return [product_id]
    bound = MAX_VALUES // (3 * max(1, len(times)))
    p = purchases.c
    query = (
        select(p.product_id)
        .where(p.occurred_at > times[0] - step, p.occurred_at <= times[-1])
        .distinct()
        .order_by(p.product_id)
        .limit(bound + 1)
    )
    found = list((await conn.execute(query)).scalars())
    if len(found) > bound:
        raise invalid(
            "product_id",
            f"more than {bound} products sold at {len(times)} times: give product_id, a "
            "larger step or a shorter range",
        )
    return found


async def sales(
    conn: AsyncConnection, times: Sequence[datetime], step: timedelta, product_id: str | None
) -> list[dict[str, Any]]:
    """Per product, units, orders and revenue per currency in each step."""
    if not times:
        return []
    chosen = await _products(conn, times, step, product_id)
    p = purchases.c
    within = [p.occurred_at > times[0] - step, p.occurred_at <= times[-1]]
    if product_id is not None:
        within.append(p.product_id == product_id)
    rows = (
        select(p.product_id, p.currency, p.quantity, p.amount_micros, p.customer_id, p.order_id)
        .add_columns(step_index(conn, purchases.c.occurred_at, times[0], step).label("k"))
        .where(*within)
        .subquery()
    )
    r, n = rows.c, len(times)
    units: dict[str, list[int]] = {pid: [0] * n for pid in chosen}
    money: dict[str, dict[str, list[tuple[int, int]]]] = {pid: {} for pid in chosen}
    sums = (func.sum(r.quantity), *revenue_sums(r.amount_micros))
    summed = select(r.product_id, r.currency, r.k, *sums)
    for pid, currency, k, quantity, high, low in await conn.execute(
        summed.group_by(r.product_id, r.currency, r.k)
    ):
        units[pid][k] += int(quantity)
        money[pid].setdefault(currency, [(0, 0)] * n)[k] = (high, low)
    orders: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    per_order = select(r.product_id, r.k, r.customer_id, r.order_id).distinct().subquery()
    o = per_order.c
    for pid, k, count in await conn.execute(
        select(o.product_id, o.k, func.count()).group_by(o.product_id, o.k)
    ):
        orders[pid][k] = int(count)
    return [
        {
            "product_id": pid,
            "units": units[pid],
            "orders": orders[pid],
            "revenue": {
                currency: [revenue(high, low) for high, low in values]
                for currency, values in sorted(money[pid].items())
            },
        }
        for pid in chosen
    ]


@router.get("/sales", response_model=Sales)
async def get_sales(
    state: State,
    conn: Conn,
    since: Since = None,
    until: Until = None,
    step: Step = None,
    product_id: Annotated[Identifier | None, Query(description="only this product")] = None,
) -> dict[str, Any]:
    """Units sold, orders and revenue per currency, per product and step, by when the
    purchases happened (``occurred_at``): a late purchase corrects its own step."""
    every, times = step_range(since, until, step, state.history_interval)
    return {
        "step": format_duration(every),
        "interval": format_duration(state.history_interval),
        "times": times,
        "products": await sales(conn, times, every, product_id),
    }

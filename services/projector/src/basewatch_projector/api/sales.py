"""``/v1/sales``: units sold, orders and revenue per product and step.

Read from running totals per product (``history/sales.py``), bucketed by
``occurred_at``: a late purchase lands in the step it happened in, and a replay answers
the same. A step's value at time t is what happened in (t - step, t], as for the
signals of ``/v1/history``. An order counts once per product, in the step of its first
line of that product.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.deps import Conn
from basewatch_projector.api.ranges import Span, invalid
from basewatch_projector.api.revenue import revenue as revenue_of
from basewatch_projector.history.sales import products_sold, sales_steps
from basewatch_projector.history.series import MAX_VALUES
from basewatch_shared.contract.scalars import Identifier

router = APIRouter()


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


async def sales(
    conn: AsyncConnection, times: Sequence[datetime], step: timedelta, product_id: str | None
) -> list[dict[str, Any]]:
    """Per product sold in the range (or the one asked for), units, orders and revenue
    per currency in each step; 422 past the bound of products."""
    if not times:
        return []
    bound = MAX_VALUES // (3 * max(1, len(times)))
    chosen = [product_id] if product_id is not None else await products_sold(conn, bound + 1)
    if len(chosen) > bound:
        raise invalid(
            "product_id",
            f"more than {bound} products sold at {len(times)} times: give product_id, a "
            "larger step or a shorter range",
        )
    found = await sales_steps(conn, chosen, times, step)
    answer = []
    for pid in chosen:
        steps = found[pid]
        lines: dict[str, int] = defaultdict(int)
        for value in steps:
            for currency, (_, _, n) in value["revenue"].items():
                lines[currency] += n
        if product_id is None and not any(lines.values()):
            continue  # not sold in the range
        revenue = {
            currency: [revenue_of(*v["revenue"].get(currency, (0, 0, 0))[:2]) for v in steps]
            for currency in sorted(c for c, n in lines.items() if n)
        }
        units, orders = [v["units"] for v in steps], [v["orders"] for v in steps]
        answer.append({"product_id": pid, "units": units, "orders": orders, "revenue": revenue})
    return answer


@router.get("/sales", response_model=Sales)
async def get_sales(
    conn: Conn,
    span: Span,
    product_id: Annotated[Identifier | None, Query(description="only this product")] = None,
) -> dict[str, Any]:
    """Units sold, orders and revenue per currency, per product and step, by when the
    purchases happened (``occurred_at``): a late purchase corrects its own step."""
    return {**span.described(), "products": await sales(conn, span.times, span.every, product_id)}

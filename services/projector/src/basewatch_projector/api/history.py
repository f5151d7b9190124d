"""``/v1/history``: the bases over time, as series aligned on step boundaries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.deps import Conn
from basewatch_projector.api.ranges import Span, invalid
from basewatch_projector.history.series import (
    MAX_VALUES,
    UNSET,
    TooManyValues,
    gauges,
    signal_counts,
)
from basewatch_shared.contract.scalars import Identifier

Metric = Literal["customers", "retained", "installations", "signals"]
router = APIRouter()


class Series(BaseModel):
    """One series: its labels and one value per time (null: no sample at or before it)."""

    labels: dict[str, str | None]
    values: list[int | None]


class History(BaseModel):
    """Series of one metric at the step boundaries between ``since`` and ``until``."""

    metric: Metric
    step: str = Field(description="the step between times, as a duration", examples=["1h"])
    interval: str = Field(description="how often this projector samples", examples=["1h"])
    times: list[datetime] = Field(description="step boundaries, ascending")
    series: list[Series]


async def _gauges(
    conn: AsyncConnection,
    metric: Metric,
    times: list[datetime],
    step: timedelta,
    product_id: str | None,
    per_product: bool,
) -> list[dict[str, Any]]:
    """The sampled series, or a 422 when they would be more than MAX_VALUES values."""
    try:
        return await gauges(
            conn,
            metric,
            times,
            product_id=UNSET if product_id is None else product_id,
            per_product=per_product,
            step=step,
        )
    except TooManyValues as exc:
        raise invalid(
            "metric",
            f"{exc} at {len(times)} times: at most {MAX_VALUES:,} values; give product_id, "
            "per_product=false, a larger step or a shorter range",
        ) from None


@router.get("/history", response_model=History)
async def get_history(
    conn: Conn,
    metric: Annotated[Metric, Query(description="which series")],
    span: Span,
    product_id: Annotated[
        Identifier | None,
        Query(description="installations: only this product's series (one per status)"),
    ] = None,
    per_product: Annotated[
        bool,
        Query(
            description="installations: one series per product and status (true), or per "
            "status summed over the products (false)"
        ),
    ] = True,
) -> dict[str, Any]:
    """The customer base by segment, the retained customers (bought and not lapsed:
    the base of GET /v1/movements?base=customers), the installed base by product and status, or the
    churn signals per kind, at each step boundary between ``since`` and ``until``.

    At most MAX_VALUES values (series times times): installations per product are as
    many series as products, so narrow them (``product_id``), sum them
    (``per_product=false``), or take fewer times."""
    if metric != "installations" and (product_id is not None or not per_product):
        field = "product_id" if product_id is not None else "per_product"
        raise invalid(field, "applies to metric=installations only")
    if metric == "signals":
        series = await signal_counts(conn, span.times, span.every)
    else:
        series = await _gauges(conn, metric, span.times, span.every, product_id, per_product)
    return {"metric": metric, **span.described(), "series": series}

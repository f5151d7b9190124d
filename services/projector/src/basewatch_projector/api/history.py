"""``/v1/history``: the bases over time, as series aligned on step boundaries."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.deps import Conn, State
from basewatch_projector.history.series import (
    MAX_VALUES,
    UNSET,
    TooManyValues,
    gauges,
    signal_counts,
)
from basewatch_projector.history.steps import (
    EPOCH,
    MAX_POINTS,
    default_step,
    format_duration,
    step_times,
)
from basewatch_shared.contract.scalars import Identifier
from basewatch_shared.contract.timestamps import Timestamp
from basewatch_shared.problems import ProblemError
from basewatch_shared.settings import parse_duration

Metric = Literal["customers", "installations", "signals"]
DEFAULT_SPAN = timedelta(days=7)
MAX_STEP = timedelta(days=3660)
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


def _invalid(field: str, message: str) -> ProblemError:
    return ProblemError(
        422, "Invalid request", errors=[{"field": f"query.{field}", "message": message}]
    )


def _step(text: str, interval: timedelta) -> timedelta:
    try:
        step = parse_duration(text)
    except (ValueError, OverflowError) as exc:
        raise _invalid("step", str(exc)) from None
    if step > MAX_STEP:
        raise _invalid("step", f"must be at most {format_duration(MAX_STEP)}")
    if step % interval:
        raise _invalid("step", f"must be a multiple of the interval {format_duration(interval)}")
    return step


def _times(
    since: datetime | None, until: datetime | None, step: str | None, interval: timedelta
) -> tuple[timedelta, list[datetime]]:
    """The step and the step boundaries the query asks for, or a 422 saying why not."""
    try:
        end = until or datetime.now(EPOCH.tzinfo)
        start = since or end - DEFAULT_SPAN
        if start > end:
            raise _invalid("since", "must not be after until")
        every = default_step(end - start, interval) if step is None else _step(step, interval)
        if (end - start) // every + 1 > MAX_POINTS:
            raise _invalid("step", f"more than {MAX_POINTS} times between since and until")
        if start < EPOCH:
            raise _invalid("since", "must not be before 1970-01-01T00:00:00Z")
        return every, step_times(start, end, every)
    except OverflowError:
        raise _invalid("since", "the times are out of range") from None


async def _gauges(
    conn: AsyncConnection,
    metric: Metric,
    times: list[datetime],
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
        )
    except TooManyValues as exc:
        raise _invalid(
            "metric",
            f"{exc} at {len(times)} times: at most {MAX_VALUES:,} values; give product_id, "
            "per_product=false, a larger step or a shorter range",
        ) from None


@router.get("/history", response_model=History)
async def get_history(
    state: State,
    conn: Conn,
    metric: Annotated[Metric, Query(description="which series")],
    # RFC 3339 only, like events: pydantic's datetime would also read unix numbers.
    since: Annotated[Timestamp | None, Query(description="default: until - 7 days")] = None,
    until: Annotated[Timestamp | None, Query(description="default: now")] = None,
    step: Annotated[
        str | None,
        Query(
            max_length=32,
            pattern=r"^([1-9][0-9]{0,9}[smhdw])+$",
            description="like 1h, 5s, 1d; a multiple of the interval (default: the interval, "
            f"or its smallest multiple that gives at most {MAX_POINTS} times)",
        ),
    ] = None,
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
    """The customer base by segment, the installed base by product and status, or the
    churn signals per kind, at each step boundary between ``since`` and ``until``.

    At most MAX_VALUES values (series times times): installations per product are as
    many series as products, so narrow them (``product_id``), sum them
    (``per_product=false``), or take fewer times."""
    if metric != "installations" and (product_id is not None or not per_product):
        field = "product_id" if product_id is not None else "per_product"
        raise _invalid(field, "applies to metric=installations only")
    every, times = _times(since, until, step, state.history_interval)
    if metric == "signals":
        series = await signal_counts(conn, times, every)
    else:
        series = await _gauges(conn, metric, times, product_id, per_product)
    return {
        "metric": metric,
        "step": format_duration(every),
        "interval": format_duration(state.history_interval),
        "times": times,
        "series": series,
    }

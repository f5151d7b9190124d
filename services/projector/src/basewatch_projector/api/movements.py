"""``/v1/movements``: why a base grew or shrank, per step (``history/movements.py``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from basewatch_projector.api.deps import Conn
from basewatch_projector.api.ranges import Span, invalid
from basewatch_projector.history.movements import Base, movement_steps
from basewatch_shared.contract.scalars import Identifier

router = APIRouter()


class Kind(BaseModel):
    """The moves of one kind in each step (t - step, t]."""

    kind: str = Field(examples=["new"])
    values: list[int]


class Movements(BaseModel):
    """A base's size at each step boundary and the moves that changed it.

    For every step k: ``(opening if k == 0 else sizes[k-1]) + net[k] == sizes[k]``, a
    null size counting as 0 (null: before the first sample)."""

    base: Base
    step: str = Field(description="the step between times, as a duration", examples=["1d"])
    interval: str = Field(description="how often this projector samples", examples=["1h"])
    times: list[datetime] = Field(description="step boundaries, ascending")
    opening: int | None = Field(description="the size at times[0] - step")
    sizes: list[int | None] = Field(description="the size at each time, as GET /v1/history")
    movements: list[Kind] = Field(description="per kind, the moves in each step")
    net: list[int] = Field(description="per step, the moves in minus those out")


@router.get("/movements", response_model=Movements)
async def get_movements(
    conn: Conn,
    base: Annotated[Base, Query(description="which base")],
    span: Span,
    product_id: Annotated[
        Identifier | None, Query(description="installations: only this product's base")
    ] = None,
) -> dict[str, Any]:
    """The moves in and out of the customer base (new, reactivated, lapsed) or the
    installed base (new, reactivated, churned, uninstalled, relabelled) per step, with
    the base's size at each step boundary: the size before a step plus its net is the
    size after it."""
    if base != "installations" and product_id is not None:
        raise invalid("product_id", "applies to base=installations only")
    answer = await movement_steps(conn, base, span.times, span.every, product_id)
    return {"base": base, **span.described(), **answer}

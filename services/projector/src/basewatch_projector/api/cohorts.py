"""``/v1/cohorts``: how long installations stay in use, and customers buy again.

Rows are the periods (UTC weeks from Monday, or months) in which the cohort started;
column k is the end of the k-th period since (the last, the current period, stands at
the latest sample). Each cell is what the last history sample in that period counted
(``history/cohorts.py``): exact at the history interval, replayed alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from basewatch_projector.api.deps import Conn
from basewatch_projector.api.ranges import invalid
from basewatch_projector.history.cohorts import Period, cohort_table
from basewatch_shared.contract.scalars import Identifier

router = APIRouter()


class Cohort(BaseModel):
    """One cohort: its period, its size, and per period since, its cells."""

    start: date = Field(description="the first day of the cohort's period")
    size: int = Field(description="the cohort's size at the latest sample")
    in_use: list[int] | None = Field(
        None, description="installations: in use at each period's last sample"
    )
    share: list[float] | None = Field(
        None, description="installations: in_use over the cohort's size at that sample"
    )
    bought_again: list[float] | None = Field(
        None, description="customers: the share with a second order at each period's last sample"
    )
    active: list[float] | None = Field(
        None, description="customers: the share active at each period's last sample"
    )


class Cohorts(BaseModel):
    """Cohorts of the last periods, oldest first."""

    base: Literal["installations", "customers"]
    period: Period
    cohorts: list[Cohort]


def _share(n: int, size: int) -> float:
    return round(n / size, 4) if size else 0.0


def _cohort(base: str, row: dict[str, Any]) -> dict[str, Any]:
    cells = row["cells"]
    found: dict[str, Any] = {"start": row["start"], "size": cells[-1][0]}
    if base == "installations":
        found["in_use"] = [value for _, value, _ in cells]
        found["share"] = [_share(value, size) for size, value, _ in cells]
    else:
        found["active"] = [_share(value, size) for size, value, _ in cells]
        found["bought_again"] = [_share(again, size) for size, _, again in cells]
    return found


@router.get("/cohorts", response_model=Cohorts, response_model_exclude_none=True)
async def get_cohorts(
    conn: Conn,
    base: Annotated[Literal["installations", "customers"], Query(description="which base")],
    period: Annotated[Period, Query(description="the cohorts' period")] = "month",
    product_id: Annotated[
        Identifier | None, Query(description="installations: only this product's")
    ] = None,
) -> dict[str, Any]:
    """Installations by install period, in use at the end of each period since; or
    customers by first-purchase period, the shares active and that bought again at the
    end of each period since: each cell as the last history sample of that period
    stood. The last 52 weeks or 24 months."""
    if base == "customers" and product_id is not None:
        raise invalid("product_id", "applies to base=installations only")
    rows = await cohort_table(conn, base, period, product_id, datetime.now(UTC))
    return {"base": base, "period": period, "cohorts": [_cohort(base, row) for row in rows]}

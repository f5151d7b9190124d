"""``/v1/cohorts``: how long installations stay in use, and customers buy again.

Rows are the periods (UTC weeks from Monday, or months) in which the cohort started;
column k is the end of the k-th period since (the last, the current period, ends now).
Read from the current rows, in two grouped queries:

- installations: the cohort is the period of ``installed_at`` (the latest install); an
  installation is in use at a period's end unless it left before: at ``uninstalled_at``
  (uninstalled) or at its last activity, ``silent_since`` (churned). One that churned
  and came back is in use again, and counted so for every period.
- customers: the cohort is the period of the first purchase; ``bought_again`` is the
  share whose second order (by its first purchase) happened by the period's end, and
  ``active`` the share whose status is ``active`` now (the tables keep no past status).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Integer, String, case, cast, func, literal, null, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.deps import Conn
from basewatch_projector.api.ranges import invalid
from basewatch_projector.storage.tables import customers, installations, purchases
from basewatch_shared.contract.scalars import Identifier
from basewatch_shared.contract.vocabulary import IN_USE, CustomerStatus, InstallationStatus

Period = Literal["week", "month"]
PERIODS: Final[dict[str, int]] = {"week": 52, "month": 24}  # cohorts in one answer
router = APIRouter()


class Cohort(BaseModel):
    """One cohort: its period, its size, and per period since, its cells."""

    start: date = Field(description="the first day of the cohort's period")
    size: int
    in_use: list[int] | None = Field(None, description="installations: in use at each end")
    share: list[float] | None = Field(None, description="installations: in_use / size")
    bought_again: list[float] | None = Field(None, description="customers: share, by each end")
    active: float | None = Field(None, description="customers: share active now")


class Cohorts(BaseModel):
    """Cohorts of the last periods, oldest first."""

    base: Literal["installations", "customers"]
    period: Period
    cohorts: list[Cohort]


def starts(period: Period, now: datetime) -> list[date]:
    """The first days of the last PERIODS[period] periods, oldest first, up to now's."""
    today = now.astimezone(UTC).date()
    if period == "week":
        monday = today - timedelta(days=today.weekday())
        return [monday - timedelta(weeks=n) for n in reversed(range(PERIODS[period]))]
    months = today.year * 12 + today.month - 1
    return [date(m // 12, m % 12 + 1, 1) for m in range(months - PERIODS[period] + 1, months + 1)]


def _key(conn: AsyncConnection, at: ColumnElement[Any], period: Period) -> ColumnElement[str]:
    """The first day of ``at``'s period as 'YYYY-MM-DD', on either database."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.date_trunc(period, func.timezone("UTC", at)), "YYYY-MM-DD")
    day = func.substr(at, 1, 10)  # 'YYYY-MM-DD HH:MM:SS.ffffff': no rounding of the time
    if period == "month":
        return func.strftime("%Y-%m-01", day)
    back = (cast(func.strftime("%w", day), Integer) + 6) % 7
    return func.date(day, literal("-").concat(cast(back, String)).concat(" days"))


async def installation_cohorts(
    conn: AsyncConnection, period: Period, product_id: str | None, now: datetime
) -> list[dict[str, Any]]:
    """Per cohort, the installations still in use at the end of each period since."""
    first = starts(period, now)
    i = installations.c
    left = case(
        (i.status.in_(IN_USE), null()),
        (i.status == InstallationStatus.UNINSTALLED, i.uninstalled_at),
        else_=i.silent_since,
    )
    rows = select(_key(conn, i.installed_at, period).label("cohort"))
    rows = rows.add_columns(_key(conn, left, period).label("left"))
    rows = rows.where(i.installed_at >= datetime.combine(first[0], datetime.min.time(), UTC))
    if product_id is not None:
        rows = rows.where(i.product_id == product_id)
    inner = rows.subquery()
    grouped = select(inner.c.cohort, inner.c.left, func.count()).group_by(
        inner.c.cohort, inner.c.left
    )
    index = {d.isoformat(): n for n, d in enumerate(first)}
    leaving: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for cohort, gone, n in await conn.execute(grouped):
        leaving[index[cohort]][len(first) if gone is None else index.get(gone, -1)] += int(n)
    answer = []
    for c, start in enumerate(first):
        size = sum(leaving[c].values())
        in_use = [
            size - sum(n for at, n in leaving[c].items() if at <= end)
            for end in range(c, len(first))
        ]
        share = [round(n / size, 4) if size else 0.0 for n in in_use]
        answer.append({"start": start, "size": size, "in_use": in_use, "share": share})
    return answer


async def customer_cohorts(
    conn: AsyncConnection, period: Period, now: datetime
) -> list[dict[str, Any]]:
    """Per first-purchase cohort, the share that bought again by the end of each period
    since, and the share active now."""
    first = starts(period, now)
    since = datetime.combine(first[0], datetime.min.time(), UTC)
    p, c = purchases.c, customers.c
    orders = (
        select(p.customer_id, func.min(p.occurred_at).label("at"))
        .group_by(p.customer_id, p.order_id)
        .subquery()
    )
    nth = func.row_number().over(partition_by=orders.c.customer_id, order_by=orders.c.at)
    ranked = select(orders.c.customer_id, orders.c.at, nth.label("n")).subquery()
    second = select(ranked.c.customer_id, ranked.c.at).where(ranked.c.n == 2).subquery()
    active = case((c.status == CustomerStatus.ACTIVE, 1), else_=0)
    rows = (
        select(_key(conn, c.first_purchase_at, period).label("cohort"), active.label("active"))
        .add_columns(_key(conn, second.c.at, period).label("again"))
        .outerjoin(second, second.c.customer_id == c.customer_id)
        .where(c.orders > 0, c.first_purchase_at >= since)
        .subquery()
    )
    grouped = select(rows.c.cohort, rows.c.again, func.count(), func.sum(rows.c.active))
    index = {d.isoformat(): n for n, d in enumerate(first)}
    again: dict[int, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    actives: dict[int, int] = defaultdict(int)
    for cohort, when, n, n_active in await conn.execute(
        grouped.group_by(rows.c.cohort, rows.c.again)
    ):
        again[index[cohort]][len(first) if when is None else index[when]] += int(n)
        actives[index[cohort]] += int(n_active or 0)
    answer = []
    for k, start in enumerate(first):
        size = sum(again[k].values())
        bought = [sum(n for at, n in again[k].items() if at <= end) for end in range(k, len(first))]
        answer.append(
            {
                "start": start,
                "size": size,
                "bought_again": [round(n / size, 4) if size else 0.0 for n in bought],
                "active": round(actives[k] / size, 4) if size else 0.0,
            }
        )
    return answer


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
    customers by first-purchase period, the share that bought again by each period's
    end and the share active now. The last 52 weeks or 24 months."""
    if base == "customers" and product_id is not None:
        raise invalid("product_id", "applies to base=installations only")
    now = datetime.now(UTC)
    rows = (
        await installation_cohorts(conn, period, product_id, now)
        if base == "installations"
        else await customer_cohorts(conn, period, now)
    )
    return {"base": base, "period": period, "cohorts": rows}

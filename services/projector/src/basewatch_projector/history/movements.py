"""The movements of the bases per step (GET /v1/movements), and their settling.

The moves a batch or sweep counted wait in ``movements_pending``
(``projection/movements.py``); the sample at boundary B takes them all, in its own
transaction, and stores them at B. The sample at B counts every effect committed before
it, and the moves were committed with those effects: the previous sample plus the
movements at B is the sample at B.

Sizes are the history's own series (``series.py``): the installed base is the
installations ``active`` or ``at_risk`` (of one product, or all), the customers' base the
``retained`` series (bought, not lapsed). So the sizes agree with GET /v1/history by
construction, and the identity (the size before a step plus its net is the size after
it) is what the tests check against the moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, func, select, text, true
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.history.series import UNSET, gauges
from basewatch_projector.projection.movements import SIGNS
from basewatch_projector.storage.instants import step_index
from basewatch_projector.storage.tables import movements, movements_pending
from basewatch_shared.contract.vocabulary import IN_USE

Base = Literal["customers", "installations"]


async def hold_pending(conn: AsyncConnection) -> None:
    """Hold back every other transaction's moves until this sample commits (PostgreSQL;
    SQLite has one writer): a batch another instance commits meanwhile is then in the
    counts and the moves of this sample, or in neither."""
    if conn.dialect.name == "postgresql":
        await conn.execute(text("LOCK TABLE movements_pending IN SHARE ROW EXCLUSIVE MODE"))


async def settle(conn: AsyncConnection, bucket: datetime) -> int:
    """Move every pending count to boundary ``bucket``; return how many rows moved.

    DELETE ... RETURNING takes exactly the counts it removes."""
    p = movements_pending.c
    taken = await conn.execute(
        delete(movements_pending).returning(p.base, p.kind, p.product_id, p.value)
    )
    rows = [
        {"base": base, "kind": kind, "product_id": product, "bucket": bucket, "value": value}
        for base, kind, product, value in taken
        if value
    ]
    if rows:
        await conn.execute(movements.insert(), rows)
    return len(rows)


async def sizes(
    conn: AsyncConnection,
    base: Base,
    times: Sequence[datetime],
    step: timedelta,
    product_id: str | None,
) -> list[int | None]:
    """The base's size at each time, from the history's series (null: before the first
    sample)."""
    if base == "customers":
        (series,) = await gauges(conn, "retained", times, step=step)
        return list(series["values"])
    found = await gauges(
        conn,
        "installations",
        times,
        product_id=UNSET if product_id is None else product_id,
        per_product=product_id is not None,
        step=step,
        statuses=IN_USE,
    )
    total: list[int | None] = [None] * len(times)
    for series in found:
        if series["labels"]["status"] not in IN_USE:
            continue
        for k, value in enumerate(series["values"]):
            if value is not None:
                total[k] = (total[k] or 0) + value
    return total


async def moved(
    conn: AsyncConnection,
    base: Base,
    times: Sequence[datetime],
    step: timedelta,
    product_id: str | None,
) -> dict[str, list[int]]:
    """Per kind, the moves in each step (t - step, t]."""
    found = {kind: [0] * len(times) for kind in SIGNS[base]}
    if times:
        m = movements.c
        rows = (
            select(m.kind, m.value, step_index(conn, m.bucket, times[0], step).label("k"))
            .where(m.base == base, m.bucket > times[0] - step, m.bucket <= times[-1])
            .where(true() if product_id is None else m.product_id == product_id)
            .subquery()
        )
        per_step = select(rows.c.kind, rows.c.k, func.sum(rows.c.value))
        for kind, k, n in await conn.execute(per_step.group_by(rows.c.kind, rows.c.k)):
            if kind in found:
                found[kind][k] = int(n)
    return found


async def movement_steps(
    conn: AsyncConnection,
    base: Base,
    times: Sequence[datetime],
    step: timedelta,
    product_id: str | None,
) -> dict[str, Any]:
    """The sizes at each time and at the one before, the moves per kind and the net."""
    if not times:
        return {"opening": None, "sizes": [], "movements": [], "net": []}
    at = await sizes(conn, base, [times[0] - step, *times], step, product_id)
    kinds = await moved(conn, base, times, step, product_id)
    net = [
        sum(SIGNS[base][kind] * values[k] for kind, values in kinds.items())
        for k in range(len(times))
    ]
    return {
        "opening": at[0],
        "sizes": at[1:],
        "movements": [{"kind": kind, "values": values} for kind, values in kinds.items()],
        "net": net,
    }

"""The movements of the bases per step (GET /v1/movements), and their settling.

The moves a batch or sweep counted wait in ``movements_pending``
(``projection/movements.py``); the sample at boundary B takes them all, in its own
transaction, and stores them at B, and adds them to the running totals per scope
(``movement_totals``: every product, or one): the moves in a step (t - step, t] are the
totals at t less those at t - step, two probes of an index whatever the rows between.
The sample at B counts every effect committed before it, and the moves were committed
with those effects: the previous sample plus the movements at B is the sample at B.

Sizes are the history's own series (``series.py``): the installed base is the ``in_use``
series (installations ``active`` or ``at_risk``, of one product or all, sampled with the
installations by status), the customers' base the ``retained`` series (bought, not
lapsed), read with one probe per time. So the sizes agree with GET /v1/history by
construction, and the identity (the size before a step plus its net is the size after
it) is what the tests check against the moves.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.projection.movements import SIGNS
from basewatch_projector.storage.bulk import upsert
from basewatch_projector.storage.probes import last_at
from basewatch_projector.storage.tables import (
    history,
    history_progress,
    movement_totals,
    movements,
    movements_pending,
)

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
        await add_totals(conn, bucket, rows)
    return len(rows)


def _scopes(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, bool, str], Counter[str]]:
    """Per (base, every product, product), the moves per kind of ``rows``."""
    found: dict[tuple[str, bool, str], Counter[str]] = defaultdict(Counter)
    for row in rows:
        found[row["base"], True, ""][row["kind"]] += row["value"]
        if row["base"] == "installations":
            found[row["base"], False, row["product_id"]][row["kind"]] += row["value"]
    return found


async def add_totals(
    conn: AsyncConnection, bucket: datetime, rows: Sequence[dict[str, Any]]
) -> None:
    """Add the moves settled at ``bucket`` (the latest boundary) to the running totals of
    each scope they touch: every product of the base, and their product's."""
    t, written = movement_totals.c, []
    for (base, every, product), moves in sorted(_scopes(rows).items()):
        scope = [t.base == base, t.every == every, t.product_id == product]
        (before,) = await last_at(conn, t.kinds, t.bucket, scope, [bucket])
        total = Counter(before or {})
        total.update(moves)
        kinds = {kind: total[kind] for kind in SIGNS[base]}
        written.append({"base": base, "every": every, "product_id": product, "kinds": kinds})
    await upsert(
        conn, movement_totals, [w | {"bucket": bucket} for w in written],
        ["base", "every", "product_id", "bucket"], ["kinds"],
    )  # fmt: skip


async def sizes(
    conn: AsyncConnection,
    base: Base,
    times: Sequence[datetime],
    product_id: str | None,
) -> list[int | None]:
    """The base's size at each time, from the history's one series of it (``in_use``
    or ``retained``), one probe per time; null before the first sample."""
    h = history.c
    first = await conn.scalar(select(history_progress.c.first_bucket))
    labels = {} if product_id is None else {"product_id": product_id}
    metric = "retained" if base == "customers" else "in_use"
    found = await last_at(conn, h.value, h.bucket, [h.metric == metric, h.labels == labels], times)
    return [
        None if first is None or at < first else int(value or 0)
        for at, value in zip(times, found, strict=True)
    ]


async def moved(
    conn: AsyncConnection,
    base: Base,
    times: Sequence[datetime],
    step: timedelta,
    product_id: str | None,
) -> dict[str, list[int]]:
    """Per kind, the moves in each step (t - step, t]: the running totals at t less
    those at t - step, one probe per time."""
    t = movement_totals.c
    scope = [t.base == base, t.every == (product_id is None), t.product_id == (product_id or "")]
    totals = await last_at(conn, t.kinds, t.bucket, scope, [times[0] - step, *times])
    found = {kind: [0] * len(times) for kind in SIGNS[base]}
    for k in range(len(times)):
        before, after = totals[k] or {}, totals[k + 1] or {}
        for kind, values in found.items():
            values[k] = after.get(kind, 0) - before.get(kind, 0)
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
    at = await sizes(conn, base, [times[0] - step, *times], product_id)
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

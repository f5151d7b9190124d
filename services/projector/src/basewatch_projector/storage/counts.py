"""The sizes of the two bases, as the database keeps them (``base_counts``, migration 0008).

Every statement that writes a customer or an installation appends its change of the
counts in its own transaction, so ``kept`` reads exact counts in one snapshot without
scanning either table. ``fold`` replaces the rows with their sums, so what ``kept`` reads
stays small (each batch and each sweep folds; a catch-up adds hundreds of rows per
batch): it deletes the rows it sees and inserts their sums in one transaction, and a
concurrent fold (another instance) skips the rows this one deleted, so nothing is
counted twice and no fold waits for another.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from sqlalchemy import delete, func, literal, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.storage.rollups import base_counts

CUSTOMERS: Final = "customers"  # label: the segment; used: their installations in use
INSTALLATIONS: Final = "installations"  # label: the product; used: in use, no owner


class Count(NamedTuple):
    """How many customers (by segment and status) or installations (by product,
    version and status) there are, and how many of them ``used`` counts."""

    base: str
    label: str | None
    version: str | None
    status: str
    n: int
    used: int


Key = tuple[str, str | None, str | None, str]
_c = base_counts.c
_KEY = (_c.base, _c.label, _c.version, _c.status)
_KEPT: Final = (
    select(*_KEY, func.sum(_c.n), func.sum(_c.used))
    .group_by(*_KEY)
    .having(func.sum(_c.n) != literal(0))
)


async def kept(conn: AsyncConnection) -> list[Count]:
    """Every non-empty count, in the connection's snapshot."""
    rows = await conn.execute(_KEPT)
    return [Count(b, label, v, status, int(n), int(used)) for b, label, v, status, n, used in rows]


async def fold(conn: AsyncConnection) -> None:
    """Replace the rows this transaction sees by one row per count."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_FOLD_POSTGRES)
        return
    rows = await conn.execute(delete(base_counts).returning(*_KEY, _c.n, _c.used))
    sums: dict[Key, list[int]] = {}
    for base, label, version, status, n, used in rows:
        summed = sums.setdefault((base, label, version, status), [0, 0])
        summed[0] += n
        summed[1] += used
    folded = [
        {"base": b, "label": label, "version": v, "status": s, "n": n, "used": used}
        for (b, label, v, s), (n, used) in sums.items()
        if n or used
    ]
    if folded:
        await conn.execute(base_counts.insert(), folded)


# One statement, no rows through Python. SKIP LOCKED: rows another instance's fold
# deleted and has not committed are its to fold; this one never waits for them.
_FOLD_POSTGRES: Final = text(
    """
    WITH gone AS (
        DELETE FROM base_counts WHERE ctid = ANY(ARRAY(
            SELECT ctid FROM base_counts FOR UPDATE SKIP LOCKED
        ))
        RETURNING base, label, version, status, n, used
    )
    INSERT INTO base_counts (base, label, version, status, n, used)
    SELECT base, label, version, status, sum(n), sum(used) FROM gone
    GROUP BY base, label, version, status
    HAVING sum(n) <> 0 OR sum(used) <> 0
    """
)

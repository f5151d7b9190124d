"""The planner's statistics kept up with a catch-up: a table ANALYZEd as it doubles.

PostgreSQL plans from statistics that autovacuum refreshes at most once a minute per
database. A catch-up grows the tables faster: planned as if a table still had the few
rows it had at the last ANALYZE, a batch's lookups by ``customer_id = ANY(...)`` scan
the whole table and compare each row to each wanted id (``bench.replay``: 42 ms per
customer refresh over 5,000 installations, where the index answers in about 1 ms). After
a batch, at most once per ``EVERY_S``, the tables the batches look up are ANALYZEd when
they hold more than twice the rows their statistics say: a logarithmic number of times
whatever the size, and never for updates alone (autovacuum's job). SQLite plans without
statistics.
"""

from __future__ import annotations

import logging
import time
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.storage.tables import customers, installations, purchases
from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient

log = logging.getLogger("basewatch.projector.statistics")
EVERY_S: Final = 1.0
LOOKED_UP: Final = tuple(t.name for t in (installations, customers, purchases))
# Below this many rows any plan is fast: no ANALYZE for a table this small.
SMALL: Final = 500
_OUTGROWN = text(
    "SELECT s.relname FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid "
    "WHERE s.relid = ANY(CAST(:tables AS regclass[])) "
    "AND s.n_live_tup > GREATEST(2 * c.reltuples, :small)"
)


class Statistics:
    """Refreshes the statistics of the tables a batch looks up once they outgrew them."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._next = 0.0

    async def keep(self) -> list[str]:
        """ANALYZE the tables that doubled since their statistics (checked at most once per
        ``EVERY_S``); the names of those found. A table another holds a conflicting lock on
        (a VACUUM) is skipped, not waited for; an outage is left to the next batch."""
        now = time.monotonic()
        if not self._postgres or now < self._next:
            return []
        self._next = now + EVERY_S
        try:
            async with self._engine.begin() as conn:
                found = await conn.execute(_OUTGROWN, {"tables": list(LOOKED_UP), "small": SMALL})
                outgrown = sorted(name for (name,) in found)
                for name in outgrown:  # names from LOOKED_UP, never from input
                    await conn.execute(text(f"ANALYZE (SKIP_LOCKED) {name}"))
        except MAYBE_TRANSIENT as exc:
            if not transient(exc):
                raise
            log.warning(
                "statistics not refreshed; the next check retries", extra={"error": repr(exc)}
            )
            return []
        return outgrown

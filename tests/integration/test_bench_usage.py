"""bench's CPU readings count PostgreSQL's work, also that of backends that ended.

``bench.projector`` prints PostgreSQL's CPU per event beside the projector's; a run's
backends come and go (pools, the Quix peer's own connections), and a backend that ended
within the measurement must still be counted (through the postmaster's count of its
reaped children), or the database's share would look smaller than it was.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from bench.peers import PG_DSN
from bench.usage import Usage, postgres_seconds
from tests.support.polling import eventually

# Long enough for the kernel to count it in ticks (100 per second), short for the suite.
BUSY = "SELECT count(*) FROM generate_series(1, 3000000)"


async def test_a_backend_that_ended_is_still_counted() -> None:
    if postgres_seconds() is None:
        pytest.skip("PostgreSQL's processes are not visible from here")
    before = Usage.now()
    conn = await asyncpg.connect(PG_DSN)
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    await conn.fetchval(BUSY)
    while_alive = Usage.now()
    await conn.close()
    await eventually(lambda: _gone(backend), bool)  # reaped by the postmaster
    after = Usage.now()

    assert while_alive.postgres is not None and before.postgres is not None
    assert while_alive.postgres - before.postgres >= 0.05, "the busy backend was not counted"
    # Counters only grow: without the reaped children's time, the ended backend's
    # CPU would drop out of the sum here.
    grown = after.since(while_alive).postgres
    assert grown is not None and grown >= 0


async def _gone(pid: int) -> bool:
    return not await asyncio.to_thread(Path(f"/proc/{pid}").exists)

"""bench.projector's two measures beside the projector, in the same run.

- The Quix Streams peer (bench/quix_peer.py, in .venv-peer): the same backlog, from the
  same topics, into PostgreSQL with Quix's upsert sink.
- The physical limit: the same backlog's rows, coalesced per key in slices of the
  projector's batch size, written with raw asyncpg as one ``unnest`` upsert per slice
  and table, one transaction per slice. No broker, no decoding in the timing: what the
  database takes.
- The read limit: the statement the read API sends for one customer, sent straight to
  PostgreSQL with raw asyncpg right after each of the API's (``DirectReads``): what the
  database answers under the same write load, before any Python of the projector's.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import create_async_engine

from basewatch_projector.api.one_customer import ONE_CUSTOMER
from basewatch_shared.topics import Topics
from bench.usage import Usage

PG_DSN = "postgresql://postgres@127.0.0.1:5432/test"
_ASYNCPG_URL = PG_DSN.replace("postgresql://", "postgresql+asyncpg://")
PEER_PYTHON = Path(__file__).resolve().parent.parent / ".venv-peer" / "bin" / "python"
PEER_SCRIPT = Path(__file__).resolve().parent / "quix_peer.py"


async def run_quix(bootstrap: str, topics: Topics, total: int) -> dict[str, Any]:
    """Start the Quix peer as its own process; its events/s from start and while applying,
    and the CPU per event while applying (``cpu_us``)."""
    if not PEER_PYTHON.exists():
        raise SystemExit(f"{PEER_PYTHON} is missing: `make bench` builds it")
    schema = f"quix_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_DSN)
    # Made here: each of the peer's two sinks would create it in a transaction of its own.
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.close()
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        str(PEER_PYTHON),
        str(PEER_SCRIPT),
        bootstrap,
        topics.customers,
        topics.telemetry,
        schema,
        str(total),
        stdout=asyncio.subprocess.PIPE,
        env=dict(os.environ, PYTHONWARNINGS="ignore"),
    )
    assert proc.stdout is not None
    if not await proc.stdout.readline():  # the line it prints at its first record
        raise SystemExit(f"the Quix peer exited with {await proc.wait()} before any record")
    before = Usage.now(proc.pid)
    out, _ = await proc.communicate()
    ended = time.monotonic()
    if proc.returncode != 0:
        raise SystemExit(f"the Quix peer exited with {proc.returncode}")
    times = orjson.loads(out.splitlines()[-1])
    used = Usage.now().since(before, process=times["cpu_s"])
    conn = await asyncpg.connect(PG_DSN)
    try:
        rows = await conn.fetchval(
            f'SELECT (SELECT count(*) FROM "{schema}".installations)'
            f' + (SELECT count(*) FROM "{schema}".customers)'
        )
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()
    return {
        "events_per_s": total / (ended - started),
        "apply_events_per_s": total / (times["finished"] - times["first"]),
        "rows": rows,
        "cpu_us": used.per_event_us(total),
    }


Row = tuple[str, str, datetime, str]


def coalesced(
    records: Iterable[tuple[str, str, bytes]], size: int
) -> list[dict[str, dict[str, Row]]]:
    """The backlog in slices of `size` events, each slice the latest row per table and key."""
    slices: list[dict[str, dict[str, Row]]] = []
    current: dict[str, dict[str, Row]] = {"customers": {}, "installations": {}}
    for n, (kind, key, value) in enumerate(records, 1):
        event = orjson.loads(value)
        table = "customers" if kind == "customers" else "installations"
        when = datetime.fromisoformat(event["occurred_at"])
        current[table][key] = (key, event["type"], when, event.get("version", ""))
        if n % size == 0:
            slices.append(current)
            current = {"customers": {}, "installations": {}}
    slices.append(current)
    return slices


async def run_limit(slices: list[dict[str, dict[str, Row]]], total: int) -> dict[str, Any]:
    """Write the coalesced slices with unnest upserts; events/s and rows/s of the database,
    and the CPU per event (``cpu_us``; the process is this one, asyncpg's client)."""
    schema = f"limit_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(PG_DSN)
    try:
        await conn.execute(f'CREATE SCHEMA "{schema}"')
        for table, key in (("customers", "customer_id"), ("installations", "installation_id")):
            await conn.execute(
                f'CREATE TABLE "{schema}".{table} ({key} text PRIMARY KEY, last_type text,'
                " last_event_at timestamptz, version text)"
            )
        rows = 0
        before, started = Usage.now(), time.monotonic()
        for part in slices:
            async with conn.transaction():
                for table, key in (
                    ("customers", "customer_id"),
                    ("installations", "installation_id"),
                ):
                    values = list(part[table].values())
                    rows += len(values)
                    await conn.execute(_upsert(schema, table, key), *_columns(values))
        elapsed, used = time.monotonic() - started, Usage.now().since(before)
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        await conn.close()
    return {
        "events_per_s": total / elapsed,
        "rows_per_s": rows / elapsed,
        "cpu_us": used.per_event_us(total),
    }


def _upsert(schema: str, table: str, key: str) -> str:
    return (
        f'INSERT INTO "{schema}".{table} AS t ({key}, last_type, last_event_at, version) '
        "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[]) "
        f"ON CONFLICT ({key}) DO UPDATE SET last_type = excluded.last_type, "
        "last_event_at = excluded.last_event_at, version = excluded.version"
    )


def _columns(values: list[Row]) -> list[list[Any]]:
    return [list(column) for column in zip(*values, strict=True)] if values else [[]] * 4


class DirectReads:
    """One customer's statement, as the read API sends it, on a connection of its own."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        # Compiled as the read API's engine compiles it (an engine that never connects).
        compiled = ONE_CUSTOMER.compile(dialect=create_async_engine(_ASYNCPG_URL).dialect)
        self._conn, self._sql = conn, str(compiled)
        self._names, self._params = compiled.positiontup or [], compiled.params

    async def customer(self, customer_id: str) -> float:
        """Seconds the database took to answer for ``customer_id``, round trip included."""
        args = [customer_id if n == "customer_id" else self._params[n] for n in self._names]
        started = time.perf_counter()
        await self._conn.fetch(self._sql, *args)
        return time.perf_counter() - started


@asynccontextmanager
async def direct_reads(schema: str) -> AsyncIterator[DirectReads]:
    """``DirectReads`` on the tables of ``schema``."""
    conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": schema})
    try:
        yield DirectReads(conn)
    finally:
        await conn.close()

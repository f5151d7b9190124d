"""The read API during a database outage: 503 with Retry-After, never a 500.

Found by the end-to-end database-outage scenario (tests/e2e/test_faults.py): readers
polling the signal feed while the database was cut got ``500 Internal error`` and the
projector logged a traceback per request, as for a bug.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.api.deps import Served, connection
from basewatch_projector.api.problems import database_unavailable
from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_projector.storage.engine import create_engine
from tests.support.databases import TestDatabase
from tests.support.keys import READ_AUTH
from tests.support.polling import eventually
from tests.support.proxy import proxy_database
from tests.support.services import serve

READS = ("/v1/customers", "/v1/installations", "/v1/signals", "/v1/summary")


async def test_reads_answer_503_while_the_database_is_cut_and_recover(
    database: TestDatabase,
    migrated: AsyncEngine,
    projector_settings: Callable[..., Settings],
) -> None:
    if database.kind == "sqlite":
        pytest.skip("an embedded database cannot go down")
    proxy, proxied = await proxy_database(database.url)
    try:
        async with serve(create_app(projector_settings(DATABASE_URL=proxied))) as api:
            for path in READS:  # warm the pool: its connections die with the cut
                assert (await api.get(path, headers=READ_AUTH)).status_code == 200
            await proxy.cut()
            for _ in range(2):  # a pooled connection that died, then a refused connect
                for path in READS:
                    response = await api.get(path, headers=READ_AUTH)
                    assert response.status_code == 503, (path, response.text)
                    assert response.headers["content-type"] == "application/problem+json"
                    assert response.headers["retry-after"] == "1"
                    assert response.json()["title"] == "Database unavailable"
            await proxy.restore()

            async def status() -> int:
                return (await api.get("/v1/summary", headers=READ_AUTH)).status_code

            await eventually(status, lambda code: code == 200, within=15)
    finally:
        await proxy.cut()


def test_only_an_unreachable_database_is_unavailable_a_bad_statement_stays_a_bug() -> None:
    lost = DBAPIError("SELECT 1", None, Exception("connection was closed"))
    assert database_unavailable(lost) is not None
    assert database_unavailable(ConnectionRefusedError(111, "refused")) is not None
    for bug in (
        ProgrammingError("SELECT nope", None, Exception("syntax")),
        IntegrityError("INSERT", None, Exception("duplicate key")),
    ):
        assert database_unavailable(bug) is None


async def test_a_connection_that_dies_once_the_answer_is_made_is_no_error(
    database: TestDatabase, migrated: AsyncEngine
) -> None:
    """The closing rollback of a read fails when the database went away after the query
    (the response has started): that was logged as an unhandled error per request."""
    if database.kind == "sqlite":
        pytest.skip("an embedded database cannot go down")
    proxy, proxied = await proxy_database(database.url)
    engine = create_engine(proxied, schema=database.schema)
    served = Served(
        api_keys=(),
        history_interval=timedelta(hours=1),
        freshness=lambda: None,
        partitions=list,
        engine=engine,
    )
    try:
        dependency = connection(served)
        conn = await anext(dependency)
        assert await conn.scalar(select(1)) == 1
        await proxy.cut()
        with pytest.raises(StopAsyncIteration):  # closes without raising
            await anext(dependency)
    finally:
        await proxy.cut()
        await engine.dispose()

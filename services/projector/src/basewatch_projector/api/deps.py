"""The read API's typed dependencies: what it serves from, its connection, its key.

``Served`` is everything a route reads, typed: the settings' part is set when the app
is built, the resources once the lifespan has opened them. Routes take ``Conn`` (one
read-only connection, one snapshot per response) or, when they read with one
statement, ``OneStatement``; the edge takes ``ReadKey``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient
from basewatch_shared.auth import Documented, authenticate
from basewatch_shared.problems import ProblemError
from basewatch_shared.settings import ApiKey, Scope


@dataclass(slots=True)
class Served:
    """What the read API serves from."""

    api_keys: Sequence[ApiKey]
    history_interval: timedelta
    # The largest lag in seconds over this instance's partitions (None: unknown).
    freshness: Callable[[], float | None]
    # Per owned partition, where it stands (GET /v1/ops/lag).
    partitions: Callable[[], list[dict[str, Any]]]
    engine: AsyncEngine | None = None  # None until the lifespan has started
    broker_ready: Callable[[], Awaitable[bool] | bool] | None = None


async def served(request: Request) -> Served:
    """The app's ``Served``, set when the app was built."""
    # async: a plain def dependency runs in the thread pool, and the hop there and back
    # waited for the consume loop's turns twice per request (py-spy: the AnyIO worker).
    state = request.app.state.served
    assert isinstance(state, Served)
    return state


State = Annotated[Served, Depends(served)]


async def connection(state: State) -> AsyncIterator[AsyncConnection]:
    """A read-only connection: one snapshot per response on PostgreSQL."""
    # One snapshot per response: a customer's products, or a page and the revenues of
    # its customers, agree with each other while the consumer writes.
    options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
    async with _connected(state, options) as conn:
        yield conn


async def one_statement(state: State) -> AsyncIterator[AsyncConnection]:
    """A connection for a route that reads with one statement: a statement is its own
    snapshot, so no transaction, and no BEGIN and ROLLBACK round trips (the one-customer
    route's p50 2.3 ms instead of 3.0, bench.read_api)."""
    async with _connected(state, {"isolation_level": "AUTOCOMMIT"}) as conn:
        yield conn


@asynccontextmanager
async def _connected(state: Served, postgres: dict[str, Any]) -> AsyncIterator[AsyncConnection]:
    """A connection of the read API's engine with ``postgres`` options on PostgreSQL,
    closed after the response."""
    if state.engine is None:
        raise ProblemError(503, "Not started", "the projector is starting; retry shortly")
    conn = await state.engine.connect()
    try:
        if conn.dialect.name == "postgresql":
            await conn.execution_options(**postgres)
        yield conn
    finally:
        await _close(conn)


async def _close(conn: AsyncConnection) -> None:
    # A read writes nothing: a database that went away once the answer was made only
    # fails the closing rollback, after the response started. That is no error of this
    # request (an error inside it still propagates); the pool drops the connection.
    try:
        await conn.close()
    except MAYBE_TRANSIENT as exc:
        if not transient(exc):
            raise


Conn = Annotated[AsyncConnection, Depends(connection)]
OneStatement = Annotated[AsyncConnection, Depends(one_statement)]


async def read_key(request: Request, state: State, _scheme: Documented = None) -> ApiKey:
    """The caller's key, which must have the read scope (401 without one, else 403)."""
    key = authenticate(state.api_keys, request.headers.get("authorization"))
    if Scope.READ not in key.scopes:
        raise ProblemError(403, "Forbidden", f"this key lacks the {Scope.READ.value!r} scope")
    return key


ReadKey = Annotated[ApiKey, Depends(read_key)]

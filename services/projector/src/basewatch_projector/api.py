"""The read API (docs/read-api.md) and the operational endpoints."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector import feed, pagination, products, queries, readiness, summary
from basewatch_projector.documents import (
    CustomerPage,
    CustomerStatus,
    CustomerWithInstallations,
    Installation,
    InstallationPage,
    InstallationStatus,
    Problem,
    Product,
    Readiness,
    Segment,
    Summary,
)
from basewatch_projector.freshness import LAG_HEADER_DOC, data_lag
from basewatch_projector.pagination import Cursor, InvalidCursor, Limit
from basewatch_projector.queries import Document
from basewatch_projector.queryparams import single_valued
from basewatch_projector.unavailable import DATABASE_ERRORS
from basewatch_shared.auth import require
from basewatch_shared.contract.scalars import Identifier
from basewatch_shared.problems import PROBLEM_JSON, ProblemError
from basewatch_shared.settings import Scope


def _problem(description: str) -> dict[str, Any]:
    # Inline rather than a $ref: FastAPI would file a response model under application/json.
    # A fresh schema each time: the OpenAPI generator edits the dicts it is given.
    schema = Problem.model_json_schema()
    return {"description": description, "content": {PROBLEM_JSON: {"schema": schema}}}


Responses = dict[int | str, dict[str, Any]]
_INVALID = _problem("a parameter is invalid; `errors` says which and why")
_LIST: Responses = {
    400: _problem("the cursor is malformed, or was made for other filters"),
    422: _INVALID,
}
_ONE: Responses = {404: _problem("no such id"), 422: _INVALID}

router = APIRouter()
_read = APIRouter(
    dependencies=[Depends(require(Scope.READ)), Depends(single_valued), Depends(data_lag)],
    responses={
        200: {"headers": LAG_HEADER_DOC},
        401: _problem("no API key, or an unknown one"),
        403: _problem("the key lacks the read scope"),
    },
)


async def _connection(request: Request) -> AsyncIterator[AsyncConnection]:
    conn = await request.app.state.engine.connect()
    try:
        if conn.dialect.name == "postgresql":
            # One snapshot per response: a customer's orders, revenue and installations,
            # or the summary's counts, agree with each other while the consumer writes.
            await conn.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        yield conn
    finally:
        # A read writes nothing: a database that went away once the answer was made only
        # fails the closing rollback, after the response started. That is no error of
        # this request (an error inside it still propagates); the pool drops the
        # connection.
        with contextlib.suppress(*DATABASE_ERRORS):
            await conn.close()


Conn = Annotated[AsyncConnection, Depends(_connection)]
IdFilter = Annotated[Identifier | None, Query()]
Country = Annotated[
    str | None, Query(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, any case")
]


def _after(cursor: str | None, kind: str, filters: queries.Filters) -> str | None:
    if cursor is None:
        return None
    try:
        return pagination.decode(cursor, kind, filters)
    except InvalidCursor as exc:
        raise ProblemError(400, "Invalid cursor", str(exc)) from exc


def _next(kind: str, filters: queries.Filters, last: str | None) -> str | None:
    return None if last is None else pagination.encode(kind, filters, last)


@_read.get("/v1/customers", response_model=CustomerPage, responses=_LIST)
async def list_customers(
    conn: Conn,
    segment: Segment | None = None,
    status: CustomerStatus | None = None,
    country: Country = None,
    limit: Limit = pagination.DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Document:
    """Customers in customer_id order, optionally by segment, status and country."""
    filters = {"segment": segment, "status": status, "country": country and country.upper()}
    after = _after(cursor, "customers", filters)
    items, last = await queries.customers_page(conn, filters, after, limit)
    return {"items": items, "next_cursor": _next("customers", filters, last)}


@_read.get("/v1/customers/{customer_id}", response_model=CustomerWithInstallations, responses=_ONE)
async def get_customer(customer_id: Annotated[Identifier, Path()], conn: Conn) -> Document:
    """One customer with its revenue per currency and its installations."""
    return await queries.customer(conn, customer_id)


@_read.get("/v1/installations", response_model=InstallationPage, responses=_LIST)
async def list_installations(
    conn: Conn,
    product_id: IdFilter = None,
    version: IdFilter = None,
    status: InstallationStatus | None = None,
    customer_id: IdFilter = None,
    limit: Limit = pagination.DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Document:
    """Installations in installation_id order, optionally by product, version, status, owner."""
    filters = {
        "product_id": product_id,
        "version": version,
        "status": status,
        "customer_id": customer_id,
    }
    after = _after(cursor, "installations", filters)
    items, last = await queries.installations_page(conn, filters, after, limit)
    return {"items": items, "next_cursor": _next("installations", filters, last)}


@_read.get("/v1/installations/{installation_id}", response_model=Installation, responses=_ONE)
async def get_installation(installation_id: Annotated[Identifier, Path()], conn: Conn) -> Document:
    """One installation."""
    return await queries.installation(conn, installation_id)


@_read.get("/v1/products/{product_id}", response_model=Product, responses=_ONE)
async def get_product(product_id: Annotated[Identifier, Path()], conn: Conn) -> Document:
    """Units sold, orders and revenue beside installations by status, overall and by version."""
    return await products.product(conn, product_id)


@_read.get("/v1/summary", response_model=Summary)
async def get_summary(conn: Conn) -> Document:
    """The customer base, the installed base, and their overlap."""
    return await summary.summary(conn)


@_read.get("/v1/signals", response_model=feed.SignalFeed, responses=_LIST)
async def get_signals(
    conn: Conn,
    limit: Limit = 100,
    kind: Annotated[feed.SignalKind | None, Query()] = None,
    after: Cursor = None,
    order: Annotated[
        feed.Order,
        Query(
            description="`oldest` (default): every signal in order, for consumers. `newest`: "
            "the newest `limit` signals after the cursor, newest first, for dashboards "
            "(older ones beyond `limit` are skipped)."
        ),
    ] = feed.Order.oldest,
) -> Document:
    """The churn-signal feed, oldest first; poll again with ``next_cursor``."""
    try:
        return await feed.feed(
            conn, kind=kind.value if kind else None, after=after, limit=limit, order=order
        )
    except InvalidCursor as exc:
        raise ProblemError(400, "Invalid cursor", str(exc)) from None


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: _problem("the database or the broker is down; `checks` says which")},
)
async def readyz(request: Request) -> Document:
    """Ready: the database answers SELECT 1 and the broker is reachable."""
    checks = await readiness.checks(request.app.state)
    down = {name: state for name, state in checks.items() if state.startswith("down")}
    if down:
        detail = "; ".join(f"{name} {state}" for name, state in down.items())
        raise ProblemError(503, "Not ready", detail, checks=checks)
    return {"status": "ready", "checks": checks}


router.include_router(_read)

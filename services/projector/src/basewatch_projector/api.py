"""The read API (contract section 5) and the operational endpoints."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector import queries
from basewatch_shared.auth import require
from basewatch_shared.settings import ApiKey, Scope

router = APIRouter()
ReadKey = Annotated[ApiKey, Depends(require(Scope.READ))]


async def _connection(request: Request) -> AsyncIterator[AsyncConnection]:
    async with request.app.state.engine.connect() as conn:
        yield conn


Conn = Annotated[AsyncConnection, Depends(_connection)]


@router.get("/v1/customers/{customer_id}")
async def get_customer(customer_id: str, _key: ReadKey, conn: Conn) -> dict[str, Any]:
    """One customer with its revenue per currency and its installations."""
    return await queries.customer(conn, customer_id)


@router.get("/v1/installations/{installation_id}")
async def get_installation(installation_id: str, _key: ReadKey, conn: Conn) -> dict[str, Any]:
    """One installation."""
    return await queries.installation(conn, installation_id)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}

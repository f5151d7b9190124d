"""``/v1/erasures``: the erasure requests the projector applied, oldest first, resumable
from a cursor (docs/erasure.md). An item names the customer, the request, the key that
asked and when; never a personal field (the tables no longer hold any)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api import pagination
from basewatch_projector.api.deps import Conn
from basewatch_projector.api.pagination import Cursor, Limit
from basewatch_projector.api.problems import LIST
from basewatch_projector.storage.tables import erasures

router = APIRouter()
_EXAMPLE: Final[dict[str, Any]] = {
    "erasure_id": "er_5f0c3b1e9a7d4c2b8e6f1a0d3c5b7e9f",
    "customer_id": "cust-7",
    "requested_at": "2026-12-03T18:00:00.123456Z",
    "source": "dpo",
    "applied_at": "2026-12-03T18:00:00.241877Z",
}


class ErasureItem(BaseModel):
    """One erasure request: asked when, by which key, applied to the tables when."""

    model_config = ConfigDict(json_schema_extra={"examples": [_EXAMPLE]})

    erasure_id: str
    customer_id: str
    requested_at: datetime = Field(description="when ingest accepted the request")
    source: str = Field(description="the name of the key that asked")
    applied_at: datetime = Field(description="when the projector applied it to the tables")


class ErasureFeed(BaseModel):
    """Requests after the cursor; ``next_cursor`` is where to continue (also when empty)."""

    items: list[ErasureItem]
    next_cursor: str | None


async def feed(conn: AsyncConnection, *, after: str | None, limit: int) -> dict[str, Any]:
    """Up to ``limit`` requests after the cursor, in the order they were applied."""
    last = pagination.decode_position(after, "erasures", {}) if after else 0
    e = erasures.c
    rows = (
        await conn.execute(
            select(e.position, *(e[name] for name in ErasureItem.model_fields))
            .where(e.position > last)
            .order_by(e.position)
            .limit(limit)
        )
    ).all()
    items = [{name: getattr(row, name) for name in ErasureItem.model_fields} for row in rows]
    resume = rows[-1].position if rows else last
    # A feed is polled: the cursor to continue from is given even when nothing is new.
    return {"items": items, "next_cursor": pagination.encode("erasures", {}, str(resume))}


@router.get("/erasures", response_model=ErasureFeed, responses=LIST)
async def get_erasures(conn: Conn, limit: Limit = 100, after: Cursor = None) -> dict[str, Any]:
    """The erasure requests, oldest first; poll again with ``next_cursor``."""
    return await feed(conn, after=after, limit=limit)

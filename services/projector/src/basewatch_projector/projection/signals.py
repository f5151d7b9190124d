"""Storing signal rows, in the transaction of the status change they report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.storage.tables import signals


async def store_signals(conn: AsyncConnection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert signal rows (ids ascend in insertion order: the feed's order)."""
    if rows:
        await conn.execute(insert(signals), list(rows))

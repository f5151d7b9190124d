"""``/v1/meta``: the words the API answers in, the history interval, and the products.

A client (the page) takes its words from here instead of spelling them out, and learns
the history interval and the products with their versions in one request.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select, union
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.deps import Conn, State
from basewatch_projector.api.products import MAX_VERSIONS, nulls_last
from basewatch_projector.history.steps import format_duration
from basewatch_projector.projection.movements import SIGNS
from basewatch_projector.storage.bulk import any_of
from basewatch_projector.storage.tables import installations, purchases
from basewatch_shared.contract.vocabulary import (
    CustomerStatus,
    InstallationStatus,
    Segment,
    SignalKind,
)

MAX_PRODUCTS: Final = 1000
router = APIRouter()


class ProductVersions(BaseModel):
    """A product and the versions its installations reported."""

    product_id: str
    versions: list[str | None] = Field(
        description=f"in text order, null (installations that never reported one) last; "
        f"at most {MAX_VERSIONS:,}"
    )
    more_versions: bool = Field(description=f"true when it has more than {MAX_VERSIONS:,}")


class Meta(BaseModel):
    """The vocabulary of the read API, the history interval, and the products."""

    segments: list[Segment]
    customer_statuses: list[CustomerStatus]
    installation_statuses: list[InstallationStatus]
    signal_kinds: list[SignalKind]
    movements: dict[str, dict[str, int]] = Field(
        description="per base of GET /v1/movements, its kinds in order, each with its "
        "sign in the net (1: into the base, -1: out of it)"
    )
    history_interval: str = Field(
        description="how often this projector samples the bases (GET /v1/history)",
        examples=["1h"],
    )
    products: list[ProductVersions] = Field(
        description="every product purchased or installed, by product_id, at most "
        f"{MAX_PRODUCTS:,}: the first ones in product_id order"
    )
    more_products: bool = Field(description=f"true when there are more than {MAX_PRODUCTS:,}")


@router.get("/meta", response_model=Meta)
async def get_meta(state: State, conn: Conn) -> dict[str, Any]:
    """The statuses, segments and signal kinds, the history interval, and the products
    with their versions."""
    ids = await _product_ids(conn)
    versions = defaultdict(list, await _versions(conn, ids[:MAX_PRODUCTS]))
    return {
        "segments": list(Segment),
        "customer_statuses": list(CustomerStatus),
        "installation_statuses": list(InstallationStatus),
        "signal_kinds": list(SignalKind),
        "movements": SIGNS,
        "history_interval": format_duration(state.history_interval),
        "products": [
            {
                "product_id": product_id,
                "versions": sorted(versions[product_id][:MAX_VERSIONS], key=nulls_last),
                "more_versions": len(versions[product_id]) > MAX_VERSIONS,
            }
            for product_id in ids[:MAX_PRODUCTS]
        ],
        "more_products": len(ids) > MAX_PRODUCTS,
    }


async def _product_ids(conn: AsyncConnection) -> list[str]:
    """The first MAX_PRODUCTS + 1 product ids purchased or installed, in order."""
    known = union(
        select(purchases.c.product_id),
        select(installations.c.product_id).where(installations.c.product_id.is_not(None)),
    ).subquery()
    query = select(known.c.product_id).order_by(known.c.product_id).limit(MAX_PRODUCTS + 1)
    return list((await conn.execute(query)).scalars())


async def _versions(conn: AsyncConnection, ids: list[str]) -> dict[str, list[str | None]]:
    """Per product, up to MAX_VERSIONS + 1 of the versions its installations reported."""
    if not ids:
        return {}
    i = installations.c
    pairs = select(i.product_id, i.version).where(any_of(conn, i.product_id, ids)).distinct()
    pair = pairs.subquery()
    rank = func.row_number().over(
        partition_by=pair.c.product_id, order_by=(pair.c.version.is_(None), pair.c.version)
    )
    ranked = select(pair.c.product_id, pair.c.version, rank.label("n")).subquery()
    query = (
        select(ranked.c.product_id, ranked.c.version)
        .where(ranked.c.n <= MAX_VERSIONS + 1)
        .order_by(ranked.c.product_id, ranked.c.n)
    )
    found: dict[str, list[str | None]] = defaultdict(list)
    for product_id, version in await conn.execute(query):
        found[product_id].append(version)
    return found

"""``/v1/installations``: the installed base, one installation or a page of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from basewatch_projector.api import queries
from basewatch_projector.api.deps import Conn, OneStatement
from basewatch_projector.api.documents import Installation, InstallationPage
from basewatch_projector.api.pagination import DEFAULT_LIMIT, Cursor, Limit, page
from basewatch_projector.api.problems import LIST, ONE
from basewatch_projector.api.queries import Document
from basewatch_shared.contract.scalars import Identifier
from basewatch_shared.contract.vocabulary import InstallationStatus

router = APIRouter()
IdFilter = Annotated[Identifier | None, Query()]


@router.get("/installations", response_model=InstallationPage, responses=LIST)
async def list_installations(
    conn: Conn,
    product_id: IdFilter = None,
    version: IdFilter = None,
    status: InstallationStatus | None = None,
    customer_id: IdFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Document:
    """Installations in installation_id order, optionally by product, version, status, owner."""
    filters = {
        "product_id": product_id,
        "version": version,
        "status": status,
        "customer_id": customer_id,
    }
    return await page(conn, "installations", filters, cursor, limit, queries.installations_page)


@router.get("/installations/{installation_id}", response_model=Installation, responses=ONE)
async def get_installation(
    installation_id: Annotated[Identifier, Path()], conn: OneStatement
) -> Document:
    """One installation."""
    return await queries.installation(conn, installation_id)

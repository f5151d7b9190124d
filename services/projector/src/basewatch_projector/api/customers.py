"""``/v1/customers``: the customer base, one customer or a page of them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from basewatch_projector.api import one_customer, queries
from basewatch_projector.api.deps import Conn, OneStatement
from basewatch_projector.api.documents import CustomerPage, CustomerWithInstallations
from basewatch_projector.api.pagination import DEFAULT_LIMIT, Cursor, Limit, page
from basewatch_projector.api.problems import LIST, ONE
from basewatch_projector.api.queries import Document
from basewatch_shared.contract.scalars import Identifier
from basewatch_shared.contract.vocabulary import CustomerStatus, Segment

router = APIRouter()
Country = Annotated[
    str | None, Query(pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, any case")
]


@router.get("/customers", response_model=CustomerPage, responses=LIST)
async def list_customers(
    conn: Conn,
    segment: Segment | None = None,
    status: CustomerStatus | None = None,
    country: Country = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Document:
    """Customers in customer_id order, optionally by segment, status and country."""
    filters = {"segment": segment, "status": status, "country": country and country.upper()}
    return await page(conn, "customers", filters, cursor, limit, queries.customers_page)


@router.get("/customers/{customer_id}", response_model=CustomerWithInstallations, responses=ONE)
async def get_customer(customer_id: Annotated[Identifier, Path()], conn: OneStatement) -> Document:
    """One customer with its revenue per currency and its installations."""
    return await one_customer.customer(conn, customer_id)

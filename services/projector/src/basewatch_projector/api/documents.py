"""The read API's response documents (docs/read-api.md), as pydantic models.

They exist for the OpenAPI document and to check every response on its way out; the
queries build plain dicts of this shape and FastAPI validates and serializes them once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from basewatch_shared.contract.vocabulary import CustomerStatus, InstallationStatus, Segment

# Exact decimal strings: a JSON number would invite binary floats on the client.
Money = Annotated[str, Field(pattern=r"^[0-9]+(\.[0-9]+)?$", examples=["19.99"])]
Revenue = Annotated[
    dict[str, Money],
    Field(
        description="per ISO 4217 currency, an exact decimal string; never summed across "
        "currencies",
        examples=[{"EUR": "39.98", "USD": "5"}],
    ),
]
T = TypeVar("T")

_INSTALLATION_EXAMPLE: Final[dict[str, Any]] = {
    "installation_id": "inst-42",
    "customer_id": "cust-7",
    "product_id": "editor",
    "version": "2.1.0",
    "platform": "macos",
    "installed_at": "2026-11-01T10:02:00Z",
    "last_heartbeat_at": "2026-11-03T08:00:00Z",
    "usage": {"sessions": 12, "active_minutes": 340},
    "status": "active",
    "status_changed_at": "2026-11-01T10:02:05Z",
}
_CUSTOMER_EXAMPLE: Final[dict[str, Any]] = {
    "customer_id": "cust-7",
    "traits": {"email": "ada@example.com", "country": "DE"},
    "segment": "loyal",
    "status": "active",
    "orders": 2,
    "revenue": {"EUR": "39.98", "USD": "5"},
    "first_purchase_at": "2026-10-01T09:01:00Z",
    "last_purchase_at": "2026-11-01T09:01:00Z",
    "erased": False,
    "erased_at": None,
}


class Installation(BaseModel):
    """One installation (docs/tables.md)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_INSTALLATION_EXAMPLE]})

    installation_id: str
    customer_id: str | None = Field(description="null until an event names the owner")
    product_id: str | None
    version: str | None
    platform: str | None
    installed_at: datetime | None = Field(description="the latest install; null if none seen")
    last_heartbeat_at: datetime | None = Field(description="the latest heartbeat's occurred_at")
    usage: dict[str, int | float] | None = Field(description="the latest cumulative counters")
    status: InstallationStatus
    status_changed_at: datetime


class Customer(BaseModel):
    """One customer: traits, purchases, segment and status (docs/tables.md)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_CUSTOMER_EXAMPLE]})

    customer_id: str
    traits: dict[str, str | bool | int | float] = Field(description="merged from identify events")
    segment: Segment
    status: CustomerStatus
    orders: int = Field(description="distinct order_ids purchased")
    revenue: Revenue
    first_purchase_at: datetime | None
    last_purchase_at: datetime | None
    erased: bool = Field(description="true once erased: a pseudonymous id, traits always {}")
    erased_at: datetime | None = Field(description="when the first erasure was requested")


class CustomerWithInstallations(Customer):
    """One customer with its installations, ordered by installation_id."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{**_CUSTOMER_EXAMPLE, "installations": [_INSTALLATION_EXAMPLE]}]
        }
    )

    installations: list[Installation] = Field(description="the first 100, by installation_id")
    more_installations: bool = Field(
        description="true when it has more than 100: GET /v1/installations?customer_id= has all"
    )


class Page(BaseModel, Generic[T]):
    """One page of a list; pass ``next_cursor`` back as ``cursor`` for the next one."""

    items: list[T]
    next_cursor: str | None = Field(description="null on the last page")


class CustomerPage(Page[Customer]):
    """A page of customers, ordered by customer_id."""


class InstallationPage(Page[Installation]):
    """A page of installations, ordered by installation_id."""


class InstallationCounts(BaseModel):
    """Installations by status; ``installations`` counts all of them, in use or not."""

    installations: int
    active: int
    at_risk: int
    churned: int
    uninstalled: int


class VersionCounts(InstallationCounts):
    """The installations of one version of a product."""

    version: str | None = Field(description="null for installations that never reported one")


class Product(InstallationCounts):
    """Sales and installations of one product (purchases carry no version)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "product_id": "editor",
                    "units_sold": 3,
                    "orders": 2,
                    "revenue": {"EUR": "39.98", "USD": "5"},
                    "installations": 4,
                    "active": 2,
                    "at_risk": 0,
                    "churned": 1,
                    "uninstalled": 1,
                    "versions": [
                        {
                            "version": "2.1.0",
                            "installations": 4,
                            "active": 2,
                            "at_risk": 0,
                            "churned": 1,
                            "uninstalled": 1,
                        }
                    ],
                }
            ]
        }
    )

    product_id: str
    units_sold: int = Field(description="sum of the quantity of the product's purchases")
    orders: int = Field(description="distinct (customer_id, order_id) with this product")
    revenue: Revenue
    versions: list[VersionCounts] = Field(
        description="ordered by version, as text (null last); the first 100 versions"
    )
    more_versions: bool = Field(description="true when the product has more than 100 versions")


class ProductCounts(InstallationCounts):
    """The installations of one product."""

    product_id: str | None = Field(description="null for installations with no product yet")


class CustomerBase(BaseModel):
    """Every known customer by segment and by status; ``total`` is loyal + one_time."""

    total: int = Field(description="the customer base: loyal + one_time")
    by_segment: dict[Segment, int]
    by_status: dict[CustomerStatus, int]


class InstalledBase(BaseModel):
    """Installations by status and by product; ``total`` is those in use."""

    total: int = Field(description="the installed base: active + at_risk")
    by_status: dict[InstallationStatus, int]
    by_product: list[ProductCounts] = Field(
        description="ordered by product_id, null last; the first 100 products"
    )
    more_products: bool = Field(description="true when there are more than 100 products")


class Overlap(BaseModel):
    """Where the customer base and the installed base meet, and where they do not."""

    paying_and_active: int = Field(description="customers with an order and status active")
    paying_and_lapsed: int = Field(description="customers with an order and status lapsed")
    paying_never_installed: int = Field(description="customers with an order, never installed")
    active_not_paying_customers: int = Field(
        description="customers with no purchase and an installation in use (segment prospect, "
        "status active)"
    )
    active_not_paying_installations: int = Field(
        description="installations in use (active or at_risk) whose owner has no purchase or "
        "is unknown"
    )


class Summary(BaseModel):
    """The customer base, the installed base, and their overlap, from one snapshot."""

    customer_base: CustomerBase
    installed_base: InstalledBase
    overlap: Overlap


class Readiness(BaseModel):
    """Ready: every dependency answered."""

    status: Literal["ready"]
    checks: dict[str, str] = Field(examples=[{"database": "ok", "broker": "ok"}])


class Problem(BaseModel):
    """An RFC 9457 problem (application/problem+json)."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[dict[str, str]] | None = Field(
        default=None, description='422: [{"field": "query.limit", "message": "..."}]'
    )
    checks: dict[str, str] | None = Field(
        default=None, description="503 from /readyz: each dependency and its state"
    )

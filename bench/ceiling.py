"""The ceiling: a FastAPI endpoint that parses and validates events and answers 202.

Plain pydantic models, as a FastAPI tutorial writes them (types, no rules of ours), no
key, no limits, no broker: what any FastAPI service pays per event just to read it.
Ingest does that, and all it promises besides, so the benchmark shows how close to this
ceiling it gets. It only exists to be measured.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI
from pydantic import BaseModel, Field


class Event(BaseModel):
    """Any of the five events, every field typed, none checked further."""

    type: Literal["identify", "purchase", "install", "heartbeat", "uninstall"]
    event_id: str
    occurred_at: datetime
    sent_at: datetime | None = None
    customer_id: str | None = None
    installation_id: str | None = None
    order_id: str | None = None
    product_id: str | None = None
    version: str | None = None
    platform: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    quantity: int = 1
    traits: dict[str, str | int | float | bool] | None = None
    usage: dict[str, int | float] | None = None
    properties: dict[str, Any] | None = None


class Batch(BaseModel):
    """Up to 1000 events."""

    events: list[Event] = Field(min_length=1, max_length=1000)


def create_app() -> FastAPI:
    """The ceiling app."""
    app = FastAPI()

    @app.post("/v1/events", status_code=202)
    async def post_events(body: Annotated[Batch | Event, Body()]) -> dict[str, Any]:
        accepted = len(body.events) if isinstance(body, Batch) else 1
        return {"accepted": accepted, "rejected": []}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

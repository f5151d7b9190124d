"""Every route the projector serves: ``/v1`` behind its edge, health, and the page."""

from __future__ import annotations

from fastapi import APIRouter

from basewatch_projector.api import (
    cohorts,
    customers,
    erasures,
    health,
    history,
    installations,
    meta,
    movements,
    ops,
    page,
    products,
    sales,
    signals,
    summary,
)
from basewatch_projector.api.edge import v1


def routes() -> APIRouter:
    """The projector's routes (the page's files are read once, here)."""
    router = APIRouter()
    router.include_router(
        v1(
            customers.router,
            installations.router,
            products.router,
            summary.router,
            signals.router,
            erasures.router,
            history.router,
            movements.router,
            sales.router,
            cohorts.router,
            ops.router,
            meta.router,
        )
    )
    router.include_router(health.router)
    router.include_router(page.router())
    return router

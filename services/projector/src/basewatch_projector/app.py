"""The projector application: its routes, and a lifespan that runs ``bootstrap``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from basewatch_projector import bootstrap
from basewatch_projector.api.deps import Served
from basewatch_projector.api.problems import TRANSLATIONS
from basewatch_projector.api.router import routes
from basewatch_projector.consume.lag import LagTracker
from basewatch_projector.metrics import Metrics
from basewatch_projector.settings import Settings
from basewatch_shared.headers import app_options, secure
from basewatch_shared.problems import install_problem_handlers


def create_app(settings: Settings) -> FastAPI:
    """Build the projector app; the engine and Kafka clients start in the lifespan."""
    metrics = Metrics()
    lag = LagTracker(metrics, lambda: datetime.now(UTC))
    served = Served(
        api_keys=settings.api_keys,
        history_interval=settings.history_interval,
        freshness=lag.freshness,
        partitions=lag.snapshot,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with bootstrap.running(settings, metrics, lag) as projector:
            served.engine, served.broker_ready = projector.engine, projector.broker_ready
            yield

    app = FastAPI(title="basewatch projector", version="1", lifespan=lifespan, **app_options())
    app.state.served = served
    install_problem_handlers(app, TRANSLATIONS)
    secure(app, settings.api_docs)
    app.include_router(routes())

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        # At scrape time too, not only after each batch: while a batch hangs (a locked
        # table, a slow database) the lag in seconds must keep growing on /metrics.
        lag.export()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app

"""The ingest application: settings in, resources in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from basewatch_ingest.api import router
from basewatch_ingest.errors import BrokerUnavailable
from basewatch_ingest.publisher import Publisher, make_producer
from basewatch_ingest.settings import Settings
from basewatch_shared.problems import ProblemError, install_problem_handlers
from basewatch_shared.topics import Topics


def create_app(settings: Settings) -> FastAPI:
    """Build the ingest app; the producer starts in the lifespan, not at import."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        producer = make_producer(settings.kafka_bootstrap_servers, settings.kafka_idempotence)
        await producer.start()
        app.state.publisher = Publisher(producer, settings.produce_timeout)
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(title="basewatch ingest", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.api_keys = settings.api_keys
    app.state.topics = Topics(settings.topic_prefix)
    install_problem_handlers(app, {BrokerUnavailable: _unavailable})
    app.include_router(router)
    return app


def _unavailable(exc: Exception) -> ProblemError:
    # Retry-After: the produce timeout has already been waited; a short pause is enough.
    return ProblemError(503, "Broker unavailable", str(exc), headers={"Retry-After": "2"})

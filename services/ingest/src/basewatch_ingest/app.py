"""The ingest application: settings in, resources in the lifespan."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.requests import ClientDisconnect

from basewatch_ingest.api import Ingest, events_route, events_router, router
from basewatch_ingest.broker import Broker, make_producer
from basewatch_ingest.erase import erase_router
from basewatch_ingest.errors import BrokerUnavailable, RateLimited
from basewatch_ingest.keys import Keys
from basewatch_ingest.metrics import Metrics
from basewatch_ingest.middleware import InFlight, ObserveRequests
from basewatch_ingest.openapi import install_openapi
from basewatch_ingest.publisher import Publisher
from basewatch_ingest.ratelimit import RateLimiter
from basewatch_ingest.settings import Settings
from basewatch_ingest.shortcut import IngestApp, Shortcut
from basewatch_shared.contract.sealed import KeyMissing
from basewatch_shared.headers import SecurityHeaders, app_options, secure
from basewatch_shared.problems import (
    ProblemError,
    Translation,
    install_problem_handlers,
    problem_handler,
)
from basewatch_shared.topics import Topics

log = logging.getLogger("basewatch.ingest")

# The broker answers in milliseconds when it is well; after a produce timeout a short
# pause is enough before the client retries.
RETRY_AFTER_UNAVAILABLE_S = 2


def create_app(settings: Settings) -> FastAPI:
    """Build the ingest app; the producer connects in the lifespan, not at import."""
    metrics = Metrics()
    in_flight = InFlight()
    topics = Topics(settings.topic_prefix)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with _serving(settings, topics, metrics, in_flight) as ingest:
            app.state.ingest = ingest
            yield

    app = IngestApp(
        title="basewatch ingest",
        version="1",
        description="Product apps send events here; they are put on Kafka (docs/events.md).",
        lifespan=lifespan,
        **app_options(),
    )
    app.state.api_keys = settings.api_keys
    translations: dict[type[Exception], Translation] = {
        BrokerUnavailable: _unavailable,
        KeyMissing: _unavailable,
        RateLimited: _rate_limited,
        ClientDisconnect: _disconnected,
    }
    install_problem_handlers(app, translations)
    app.include_router(events_router)
    app.include_router(router)
    app.include_router(erase_router)
    secure(app, settings.api_docs)
    app.add_middleware(ObserveRequests, metrics=metrics, in_flight=in_flight)
    # The events route's own way past FastAPI's layers, with the same observing and
    # headers as the middleware stack gives every other route.
    shortcut = Shortcut(events_route(), problem_handler(translations))
    served = ObserveRequests(SecurityHeaders(shortcut), metrics=metrics, in_flight=in_flight)
    app.shortcut = (shortcut, served)
    install_openapi(app)
    return app


@asynccontextmanager
async def _serving(
    settings: Settings, topics: Topics, metrics: Metrics, in_flight: InFlight
) -> AsyncIterator[Ingest]:
    """What the routes use: the broker connection, then the publisher; closed in reverse."""
    produce_timeout = settings.produce_timeout.total_seconds()
    broker = _broker(settings, topics, metrics)
    await broker.start()
    publisher = Publisher(broker, produce_timeout, metrics)
    keys = Keys(
        settings.kafka_bootstrap_servers, topics.keys, settings.master(), broker, produce_timeout
    )
    keys.start()
    limiter = RateLimiter(settings.rate_limit_events, settings.rate_limit_burst)
    log.info("ingest started", extra={"topics": [topics.customers, topics.telemetry]})
    try:
        yield Ingest(
            topics=topics,
            max_future=settings.max_future,
            limiter=limiter,
            broker=broker,
            publisher=publisher,
            metrics=metrics,
            keys=keys,
        )
    finally:
        log.info("ingest stopping", extra={"in_flight": in_flight.count})
        await _drain(in_flight, publisher, produce_timeout + 1)
        await keys.stop()
        await broker.stop()  # the producer flushes what it was handed, then closes
        log.info("ingest stopped")


def _broker(settings: Settings, topics: Topics, metrics: Metrics) -> Broker:
    """The broker connection, not yet started."""
    return Broker(
        functools.partial(
            make_producer, settings.kafka_bootstrap_servers, settings.kafka_idempotence
        ),
        address=settings.kafka_bootstrap_servers,
        topics=(topics.customers, topics.telemetry, topics.keys),
        connect_timeout=settings.connect_timeout.total_seconds(),
        probe_timeout=settings.readiness_timeout.total_seconds(),
        metrics=metrics,
    )


async def _drain(in_flight: InFlight, publisher: Publisher, timeout_s: float) -> None:
    """Let the requests in flight finish, then close the publisher; at most ``timeout_s``."""
    # uvicorn already lets in-flight requests finish before this runs; waiting
    # here too keeps "stop the producer last" true under any server.
    try:
        async with asyncio.timeout(timeout_s):
            await in_flight.wait_idle()
            await publisher.close()
    except TimeoutError:
        log.warning("stopping with %d requests still in flight", in_flight.count)


def _unavailable(exc: Exception) -> ProblemError:
    headers = {"Retry-After": str(RETRY_AFTER_UNAVAILABLE_S)}
    return ProblemError(503, "Broker unavailable", str(exc), headers=headers)


def _rate_limited(exc: Exception) -> ProblemError:
    assert isinstance(exc, RateLimited)
    headers = {"Retry-After": str(exc.retry_after)}
    return ProblemError(429, "Too many requests", str(exc), headers=headers)


def _disconnected(_exc: Exception) -> ProblemError:
    # The client hung up while sending its body; nobody reads this answer, but it must
    # not be logged as an internal error.
    return ProblemError(400, "Client disconnected", "the request body was not received whole")

"""The ingest HTTP API: POST /v1/events, health, readiness and metrics."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, Security
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST

from basewatch_ingest.body import read_limited
from basewatch_ingest.broker import Broker
from basewatch_ingest.caps import capped
from basewatch_ingest.errors import BrokerUnavailable
from basewatch_ingest.intake import Intake, refusal, split_body, take
from basewatch_ingest.keys import Keys
from basewatch_ingest.metrics import Metrics
from basewatch_ingest.openapi import (
    METRICS_RESPONSES,
    NDJSON,
    READY_RESPONSES,
    REQUEST_BODY,
    RESPONSES,
    IngestResult,
)
from basewatch_ingest.publisher import Publisher
from basewatch_ingest.ratelimit import RateLimiter
from basewatch_shared.auth import BEARER, authorize
from basewatch_shared.contract.sealed import KeyMissing
from basewatch_shared.problems import JSONResponse, ProblemError
from basewatch_shared.settings import Scope
from basewatch_shared.topics import Topics


class DirectRoute(APIRoute):
    """An APIRoute whose endpoint takes the Request and returns its Response itself.

    FastAPI still documents it from the route's declaration; requests skip dependency
    solving and response-model handling, about a fifth of the CPU of a single-event
    request (measured). Depends() parameters are therefore not resolved on such a route.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Call the endpoint with the request, nothing else."""
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


router = APIRouter()
events_router = APIRouter(route_class=DirectRoute)
_JSON = "application/json"
_READ = frozenset({b"authorization", b"content-type", b"content-encoding"})


@dataclass(frozen=True)
class Ingest:
    """What the routes use, built once in the app's lifespan."""

    topics: Topics
    max_future: timedelta
    limiter: RateLimiter
    broker: Broker
    publisher: Publisher
    metrics: Metrics
    keys: Keys


async def _ingest(request: Request) -> Ingest:
    # async: FastAPI would run a plain function in a worker thread, a costly hop per request.
    ingest: Ingest = request.app.state.ingest
    return ingest


IngestDep = Annotated[Ingest, Depends(_ingest)]


def _headers(request: Request) -> dict[str, str]:
    """The header fields this route reads, the first of each name (as Headers.get gives)."""
    # One pass: Starlette's Headers.get scans the list per name and raises KeyError
    # inside for an absent one, on every request.
    return {
        name.decode("latin-1"): value.decode("latin-1")
        for name, value in reversed(request.scope["headers"])
        if name in _READ
    }


def _media_type(content_type: str) -> str:
    """The body's media type, or a 415 problem for anything but UTF-8 JSON or NDJSON."""
    if content_type == _JSON:  # what most clients send, as it is
        return _JSON
    media, *params = (part.strip().lower() for part in content_type.split(";"))
    if media not in (_JSON, NDJSON):
        raise ProblemError(
            415, "Unsupported media type", f"use {_JSON} or {NDJSON} (got {media[:60]!r})"
        )
    for param in params:
        name, _, value = param.partition("=")
        if name.strip() == "charset" and value.strip().strip('"') not in ("utf-8", "utf8"):
            raise ProblemError(415, "Unsupported media type", "JSON must be UTF-8 (RFC 8259)")
    return media


@events_router.post(
    "/v1/events",
    status_code=202,
    response_model=IngestResult,
    responses=RESPONSES,
    openapi_extra=REQUEST_BODY,
    summary="Send events: one, a batch, or NDJSON",
    # Documents the key in OpenAPI only: a DirectRoute resolves no dependencies, and
    # post_events checks the key itself.
    dependencies=[Security(BEARER)],
)
async def post_events(request: Request) -> JSONResponse:
    """Accept one event, a batch or NDJSON; 202 once the broker has acknowledged them."""
    headers = _headers(request)
    key = authorize(request.app.state.api_keys, headers.get("authorization"), Scope.INGEST)
    ingest = await _ingest(request)
    ingest.limiter.admit(key.name)  # before reading the body: a limited key costs little
    media = _media_type(headers.get("content-type", ""))
    body = await read_limited(request.stream(), headers.get("content-encoding", ""))
    raw = split_body(body, ndjson=media == NDJSON)
    ingest.limiter.take(key.name, len(raw))
    received_at = datetime.now(UTC)
    intake = _take(ingest, raw, key.name, received_at)
    if intake.unkeyed:  # a new customer's first personal fields: mint, then take again
        await ingest.keys.ensure(intake.unkeyed)
        intake = _take(ingest, raw, key.name, received_at)
        if intake.unkeyed:
            raise KeyMissing(next(iter(intake.unkeyed)))
    if intake.rejected_reasons:  # counted whether or not the broker then acknowledges
        ingest.metrics.count_events({}, intake.rejected_reasons)
    if not intake.records:
        raise refusal(intake)
    await ingest.publisher.publish(intake.records)
    ingest.metrics.count_events(intake.accepted_types, {})
    rejected = capped(intake.rejected)
    return JSONResponse({"accepted": len(intake.records), "rejected": rejected}, 202)


def _take(ingest: Ingest, raw: list[Any], source: str, received_at: datetime) -> Intake:
    return take(
        raw,
        topics=ingest.topics,
        source=source,
        received_at=received_at,
        max_future=ingest.max_future,
        keys=ingest.keys.ring,
    )


def events_route() -> APIRoute:
    """The ``POST /v1/events`` route, as FastAPI built it."""
    return next(
        route
        for route in events_router.routes
        if isinstance(route, APIRoute) and route.endpoint is post_events
    )


@router.get("/healthz", summary="Alive: the process answers")
async def healthz() -> dict[str, str]:
    """Alive: the process answers (whether or not the broker does)."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Ready: the broker answers and has the topics",
    responses=READY_RESPONSES,
)
async def readyz(ingest: IngestDep) -> JSONResponse:
    """200 when the broker answered a metadata request recently and has our topics."""
    if not await ingest.broker.ready():
        raise BrokerUnavailable("the broker is unreachable or lacks the topics")
    return JSONResponse({"status": "ready"})


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses=METRICS_RESPONSES,
)
async def metrics(ingest: IngestDep) -> Response:
    """The process's metrics in the Prometheus text format."""
    return Response(ingest.metrics.render(), media_type=CONTENT_TYPE_LATEST)

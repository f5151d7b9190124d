"""The ingest HTTP API: POST /v1/events, health and readiness."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel

from basewatch_ingest.body import read_limited
from basewatch_ingest.intake import split_body, take
from basewatch_ingest.publisher import Publisher
from basewatch_ingest.settings import Settings
from basewatch_shared.auth import require
from basewatch_shared.problems import JSONResponse, ProblemError
from basewatch_shared.settings import ApiKey, Scope
from basewatch_shared.topics import Topics

router = APIRouter()
IngestKey = Annotated[ApiKey, Depends(require(Scope.INGEST))]
_JSON = ("application/json", "application/x-ndjson")


class Rejection(BaseModel):
    """One refused event: its position in the request, its id and why."""

    index: int
    event_id: str | None
    errors: list[dict[str, str]]


class IngestResult(BaseModel):
    """The 202 body: how many events the broker acknowledged, which were refused."""

    accepted: int
    rejected: list[Rejection]


@router.post("/v1/events", status_code=202, response_model=IngestResult)
async def post_events(request: Request, key: IngestKey) -> JSONResponse:
    """Accept one event, a batch or NDJSON; 202 once the broker has acknowledged them."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in _JSON:
        raise ProblemError(
            415, "Unsupported media type", "use application/json or application/x-ndjson"
        )
    body = await read_limited(request.stream(), request.headers.get("content-encoding", ""))
    settings: Settings = request.app.state.settings
    topics: Topics = request.app.state.topics
    intake = take(
        split_body(body, ndjson=media == "application/x-ndjson"),
        topics=topics,
        source=key.name,
        received_at=datetime.now(UTC),
        max_future=settings.max_future,
    )
    if not intake.records:
        raise ProblemError(
            422, "No acceptable event", "every event was invalid", rejected=intake.rejected
        )
    publisher: Publisher = request.app.state.publisher
    await publisher.publish(intake.records)
    result: dict[str, Any] = {"accepted": len(intake.records), "rejected": intake.rejected}
    return JSONResponse(result, status_code=202)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Alive: the process answers."""
    return {"status": "ok"}

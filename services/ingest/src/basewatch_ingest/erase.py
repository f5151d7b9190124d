"""POST /v1/customers/{customer_id}/erase: an erasure request put on the customers topic.

The record is keyed by ``customer_id``, so it lands on that customer's partition in order
with their events, and is sent with the erasure header (docs/erasure.md). The answer is
202 only once the broker acknowledged it (``acks=all``); an erasure is rare, so it takes
the producer directly rather than the shared batches of the events route.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Security
from pydantic import BaseModel

from basewatch_ingest.api import IngestDep
from basewatch_ingest.errors import BROKER_ERRORS, BrokerUnavailable
from basewatch_ingest.lanes import partition_index
from basewatch_ingest.openapi import RESPONSES, problem_response
from basewatch_shared.auth import BEARER, require
from basewatch_shared.contract.erasure import ERASURE_HEADERS, Erasure, erasure
from basewatch_shared.contract.scalars import PathId
from basewatch_shared.problems import ProblemError
from basewatch_shared.settings import ApiKey, Scope

erase_router = APIRouter()
_ERASE = require(Scope.ERASE)
_RESPONSES: dict[int | str, dict[str, Any]] = {
    **{status: RESPONSES[status] for status in (401, 429, 503)},
    403: problem_response(
        403, "The key lacks the erase scope", "Forbidden", "this key lacks the 'erase' scope"
    ),
    415: problem_response(
        415, "A body that is not JSON", "Unsupported media type", "the erase request takes no body"
    ),
    422: problem_response(
        422,
        "A malformed customer id, or a body",
        "Unexpected body",
        "the erase request takes no body",
    ),
}


async def _erase_key(request: Request, ingest: IngestDep) -> ApiKey:
    """The caller's key, which must have the erase scope and be within its rate limit."""
    key = await _ERASE(request)
    ingest.limiter.admit(key.name)
    return key


class ErasureAccepted(BaseModel):
    """The answer to an erasure request: its id, the customer, and when it was received."""

    erasure_id: str
    customer_id: str
    requested_at: datetime


@erase_router.post(
    "/v1/customers/{customer_id}/erase",
    status_code=202,
    response_model=ErasureAccepted,
    responses=_RESPONSES,
    dependencies=[Security(BEARER)],  # the document declares the key, as on POST /v1/events
    summary="Erase a customer: their traits and properties, on every copy (docs/erasure.md)",
)
async def erase_customer(
    request: Request,
    key: Annotated[ApiKey, Depends(_erase_key)],
    customer_id: Annotated[PathId, Path()],
    ingest: IngestDep,
) -> ErasureAccepted:
    """Record an erasure; 202 once the broker acknowledged it."""
    await _no_body(request)
    asked = erasure(customer_id, datetime.now(UTC), key.name)
    ingest.limiter.take(key.name, 1)
    await ingest.keys.erase(customer_id)  # first: no record of theirs opens after the 202
    await _produce(ingest, asked)
    return ErasureAccepted(**asked.model_dump(exclude={"source"}))


async def _no_body(request: Request) -> None:
    """An erasure request carries nothing but its path: any body is refused, unread."""
    declared = request.headers.get("content-length", "0").strip()
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    if declared in ("", "0") and not chunked:
        return
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media != "application/json":
        raise ProblemError(415, "Unsupported media type", "the erase request takes no body")
    raise ProblemError(422, "Unexpected body", "the erase request takes no body")


async def _produce(ingest: IngestDep, asked: Erasure) -> None:
    """Put the record on the customer's partition; BrokerUnavailable unless acknowledged."""
    topic, key = ingest.topics.customers, asked.customer_id.encode()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ingest.publisher.timeout
    try:
        producer = ingest.broker.producer
        async with asyncio.timeout_at(deadline):
            parts = sorted(await producer.partitions_for(topic))
            partition = parts[partition_index(key, len(parts))]
            await producer.send_and_wait(
                topic, asked.encode(), key=key, partition=partition, headers=ERASURE_HEADERS
            )
    except TimeoutError:
        raise BrokerUnavailable("the broker did not acknowledge in time") from None
    except BROKER_ERRORS as exc:
        raise BrokerUnavailable(f"the broker refused the erasure: {exc!r}") from exc

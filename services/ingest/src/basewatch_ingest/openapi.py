"""The OpenAPI document of POST /v1/events: its three body shapes and every answer.

The endpoint reads the raw body itself (to enforce the limits on the bytes actually
read), so FastAPI cannot infer the request schema: it is declared here, from the
contract's own models, together with a problem+json response per status code.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from basewatch_ingest.intake import MAX_BATCH
from basewatch_shared.contract.events import Event
from basewatch_shared.contract.jsonschema import key_patterns_as_property_names, tag_required
from basewatch_shared.problems import PROBLEM_JSON

NDJSON: Final = "application/x-ndjson"
_REF: Final = "#/components/schemas/{model}"


class Rejection(BaseModel):
    """One refused event: its position in the request, its id and why."""

    index: int = Field(description="position in the batch, or among the non-blank NDJSON lines")
    event_id: str | None = Field(description="the event's event_id, when it had a usable one")
    errors: list[dict[str, str]] = Field(description='[{"field": "currency", "message": "..."}]')
    more_errors: int | None = Field(default=None, description="errors left out (10 per event)")


class IngestResult(BaseModel):
    """The 202 body: how many events the broker acknowledged, which were refused."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "accepted": 1,
                    "rejected": [
                        {
                            "index": 1,
                            "event_id": "evt-2",
                            "errors": [
                                {"field": "currency", "message": "must be an ISO 4217 code"}
                            ],
                        }
                    ],
                }
            ]
        }
    )

    accepted: int = Field(description="events on the broker, acknowledged by every replica")
    rejected: list[Rejection]


class Problem(BaseModel):
    """An RFC 9457 problem: what went wrong with the request as a whole."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    rejected: list[Rejection] | None = Field(
        default=None, description="400/413/422 when no event was acceptable: each one and why"
    )


class EventBatch(BaseModel):
    """A batch of events; each is accepted or rejected on its own."""

    model_config = ConfigDict(extra="forbid")

    events: Annotated[list[Event], Field(min_length=1, max_length=MAX_BATCH)]


_HEARTBEAT = {
    "event_id": "evt-1",
    "type": "heartbeat",
    "occurred_at": "2026-05-01T12:00:00Z",
    "sent_at": "2026-05-01T12:00:03Z",
    "installation_id": "inst-42",
    "usage": {"sessions": 12, "active_minutes": 340},
}
_PURCHASE = {
    "event_id": "evt-2",
    "type": "purchase",
    "occurred_at": "2026-05-01T12:00:01Z",
    "customer_id": "cus-7",
    "order_id": "ord-9",
    "product_id": "editor",
    "amount": "49.90",
    "currency": "EUR",
}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


REQUEST_BODY: Final[dict[str, Any]] = {
    "requestBody": {
        "required": True,
        "description": (
            "One event, a batch (1 to 1000 events) or NDJSON. At most 1 MiB after "
            "decompression (Content-Encoding: gzip is accepted), one event at most 32 KiB."
        ),
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": _REF.format(model="Event")},
                        {"$ref": _REF.format(model="EventBatch")},
                    ]
                },
                "examples": {
                    "single": {"summary": "one event", "value": _HEARTBEAT},
                    "batch": {"summary": "a batch", "value": {"events": [_HEARTBEAT, _PURCHASE]}},
                },
            },
            NDJSON: {
                "schema": {"type": "string", "description": "one event object per line"},
                "examples": {
                    "ndjson": {
                        "summary": "two events",
                        "value": "".join(
                            f"{line}\n" for line in (_json(_HEARTBEAT), _json(_PURCHASE))
                        ),
                    }
                },
            },
        },
    }
}


def problem_response(
    status: int, description: str, title: str, detail: str, **headers: str
) -> dict[str, Any]:
    """An OpenAPI response: a problem+json body with an example, and its headers."""
    example = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    response: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}, "example": example}
        },
    }
    if headers:
        response["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return response


_RETRY = {"Retry-After": "seconds to wait before retrying"}
RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: problem_response(400, "Malformed JSON or gzip", "Malformed JSON", "unexpected character"),
    401: problem_response(
        401,
        "No or unknown API key",
        "Unauthorized",
        "send Authorization: Bearer <key>",
        **{"WWW-Authenticate": "Bearer"},
    ),
    403: problem_response(
        403, "The key lacks the ingest scope", "Forbidden", "this key lacks the 'ingest' scope"
    ),
    413: problem_response(
        413,
        "Body over 1 MiB (after decompression), over 1000 events, or every event over 32 KiB",
        "Payload too large",
        "the request body is limited to 1 MiB",
    ),
    415: problem_response(
        415,
        "Content-Type not application/json or application/x-ndjson (UTF-8), or an encoding "
        "other than gzip",
        "Unsupported media type",
        "use application/json or application/x-ndjson",
    ),
    422: problem_response(
        422,
        "Wrong shape, empty batch, or no event acceptable (each listed in rejected)",
        "No acceptable event",
        "event 0: currency: must be an ISO 4217 currency code, like USD",
    ),
    429: problem_response(
        429,
        "The key sent more events than its rate limit allows",
        "Too many requests",
        "rate limit exceeded; retry in 1 s",
        **_RETRY,
    ),
    503: problem_response(
        503,
        "The broker did not acknowledge in time. Some events may still have been stored: "
        "retry with the same event ids, duplicates are counted once.",
        "Broker unavailable",
        "the broker did not acknowledge in time",
        **_RETRY,
    ),
}
READY_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"application/json": {"example": {"status": "ready"}}}},
    503: problem_response(
        503,
        "The broker is unreachable, or lacks the topics",
        "Broker unavailable",
        "the broker is unreachable or lacks the topics",
        **_RETRY,
    ),
}
METRICS_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
}


def install_openapi(app: FastAPI) -> None:
    """Generate the document once, adding the contract's schemas the routes refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            keyed, definitions = TypeAdapter.json_schemas(
                [
                    ("Event", "validation", TypeAdapter(Event)),
                    ("EventBatch", "validation", TypeAdapter(EventBatch)),
                    ("Problem", "serialization", TypeAdapter(Problem)),
                ],
                ref_template=_REF,
            )
            schemas.update(definitions.get("$defs", {}))
            schemas["Event"] = keyed[("Event", "validation")]
            tag_required(schemas, union="Event")
            key_patterns_as_property_names(schemas)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

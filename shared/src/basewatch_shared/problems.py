"""RFC 9457 problem details: the one way either service reports an error over HTTP."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("basewatch.http")


class ProblemError(Exception):
    """An error the client can act on, rendered as problem+json at the edge."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


class JSONResponse(Response):
    """A JSON response rendered with orjson (fast, and exact for Decimal via default=str)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, default=str)


class ProblemResponse(JSONResponse):
    """A JSON response with the problem+json media type."""

    media_type = PROBLEM_JSON


def problem(
    status: int,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> ProblemResponse:
    """Build a problem+json response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


def _validation_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    return [
        {"field": ".".join(str(p) for p in err["loc"]), "message": str(err["msg"])}
        for err in exc.errors()
    ]


# None: not an error this translation knows after all (it is handled as unexpected).
Translation = Callable[[Exception], ProblemError | None]


Handler = Callable[[Request, Exception], Awaitable[ProblemResponse]]


def problem_handler(translations: Mapping[type[Exception], Translation] | None = None) -> Handler:
    """The one translation of an error into problem+json; unexpected ones are a 500, logged.

    ``translations`` maps a service's own errors (and their subclasses) to the problem a
    client should see.
    """
    known = translations or {}

    async def on_error(request: Request, exc: Exception) -> ProblemResponse:
        if not isinstance(exc, ProblemError):
            translate = next((known[t] for t in type(exc).__mro__ if t in known), None)
            translated = None if translate is None else translate(exc)
            if translated is None:
                return await _on_unexpected(request, exc)
            exc = translated
        return problem(exc.status, exc.title, exc.detail, exc.headers, **exc.extra)

    return on_error


def install_problem_handlers(
    app: FastAPI, translations: Mapping[type[Exception], Translation] | None = None
) -> None:
    """Translate every error to problem+json with ``problem_handler(translations)``."""
    on_problem = problem_handler(translations)
    app.add_exception_handler(ProblemError, on_problem)
    for error_type in translations or {}:
        app.add_exception_handler(error_type, on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(Exception, _on_unexpected)


async def _on_http(_request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, StarletteHTTPException)
    return problem(exc.status_code, str(exc.detail), headers=dict(exc.headers or {}))


async def _on_validation(_request: Request, exc: Exception) -> ProblemResponse:
    assert isinstance(exc, RequestValidationError)
    return problem(422, "Invalid request", errors=_validation_errors(exc))


async def _on_unexpected(request: Request, exc: Exception) -> ProblemResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem(500, "Internal error", "the error was logged")


_PROTOCOL_REFUSALS: Final = {
    400: "the request is not valid HTTP/1.1 (refused before any route reads it)",
    408: "the request's header fields or body did not arrive in time",
    431: "the request line and header fields are too large, or too many",
    503: "too many connections (Retry-After), or a dependency is unavailable",
}


def protocol_responses() -> dict[int | str, dict[str, Any]]:
    """The refusals of the server itself, for every operation's OpenAPI entry (an
    operation that documents one of these statuses with its own meaning keeps it)."""
    schema = {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
    }
    return {
        status: {"description": text, "content": {PROBLEM_JSON: {"schema": dict(schema)}}}
        for status, text in _PROTOCOL_REFUSALS.items()
    }

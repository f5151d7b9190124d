"""Response headers every answer of both services carries, and the opt-in API documents.

Every answer says: do not sniff its type, do not frame it, send no referrer, run nothing
it was not built to run (a default Content-Security-Policy), and, unless the route says
otherwise (the page's files are revalidated), do not store it: the read API answers with
personal data (traits, emails), the only origin of the read key kept in the page. A
route that sets one of these headers itself keeps its own.

FastAPI's ``/docs`` and ``/redoc`` load their scripts from a CDN, without integrity
checks, on the origin whose local storage holds the read key: off unless
``BASEWATCH_API_DOCS`` is true, and then ``/docs`` only, under a policy that allows that
CDN and nothing else. ``/openapi.json`` is always served.
"""

from __future__ import annotations

from typing import Any, Final

from fastapi import FastAPI, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from basewatch_shared.problems import protocol_responses


def app_options() -> dict[str, Any]:
    """How both apps are built: no redirect to the path without a trailing slash
    (Starlette builds it from the Host header, which the client chooses: a 404 instead),
    no document pages of FastAPI's (secure() serves /docs when asked to), and the server's
    own refusals documented on every operation (fresh: the OpenAPI generator edits them)."""
    return {
        "redirect_slashes": False,
        "docs_url": None,
        "redoc_url": None,
        "responses": protocol_responses(),
    }


CSP: Final = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", CSP.encode()),
    (b"cache-control", b"no-store"),
)
_CDN: Final = "https://cdn.jsdelivr.net"
DOCS_CSP: Final = (
    f"default-src 'none'; script-src {_CDN} 'unsafe-inline'; style-src {_CDN}; "
    "img-src data: https://fastapi.tiangolo.com; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class SecurityHeaders:
    """ASGI middleware: add each of ``HEADERS`` that the response does not set itself."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request, adding the headers to its response."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [pair for pair in HEADERS if pair[0] not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def secure(app: FastAPI, api_docs: bool) -> None:
    """Add the headers to every answer of ``app``; serve ``/docs`` if ``api_docs``."""
    app.add_middleware(SecurityHeaders)
    if not api_docs:
        return

    @app.get("/docs", include_in_schema=False)
    async def docs(_request: Request) -> Response:
        page = get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - docs")
        page.headers["Content-Security-Policy"] = DOCS_CSP
        return page

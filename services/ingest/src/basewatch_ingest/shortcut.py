"""``POST /v1/events`` straight to its endpoint, past the framework's per-request layers.

FastAPI documents the route and could serve it, but between the server and the endpoint
it passes each request through its exception, body-limit and telemetry middleware, an
exit stack, the router and the request/response wrapper: about a third of the CPU of a
single-event request (measured with py-spy). This middleware, inside ``ObserveRequests``
(so the request is counted and timed alike), calls the route's endpoint itself and
answers its errors with the app's one problem translation.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from basewatch_shared.problems import Handler

Endpoint = Callable[[Request], Awaitable[Response]]


class Shortcut:
    """Serve one POST route by calling its endpoint; pass every other request on."""

    def __init__(self, app: ASGIApp, route: APIRoute, on_error: Handler) -> None:
        self.app = app
        self.route = route
        self.endpoint: Endpoint = route.endpoint
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the route's requests; hand the rest to the app."""
        if scope["type"] != "http" or scope["path"] != self.route.path or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route  # as the router would: ObserveRequests labels by it
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:  # what the app's exception handlers would answer
            response = await self.on_error(request, exc)
        await response(scope, receive, send)

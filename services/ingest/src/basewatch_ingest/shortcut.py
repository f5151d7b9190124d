"""``POST /v1/events`` straight to its endpoint, past the framework's per-request layers.

FastAPI documents the route and could serve it, but on its way there each request goes
through FastAPI's telemetry check, Starlette's error, exception and body-limit
middleware, an exit stack, the router and the request/response wrapper: about a third
of the CPU of a single-event request (measured with py-spy). ``IngestApp`` hands that
route's requests to a ``Shortcut`` (inside ``ObserveRequests``, so they are counted and
timed alike), which calls the route's endpoint itself and answers its errors with the
app's one problem translation; every other request takes FastAPI's way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from basewatch_shared.problems import Handler

Endpoint = Callable[[Request], Awaitable[Response]]


class Shortcut:
    """Serves one POST route by calling its endpoint."""

    def __init__(self, route: APIRoute, on_error: Handler) -> None:
        self.route = route
        self.endpoint: Endpoint = route.endpoint
        self.on_error = on_error

    def serves(self, scope: Scope) -> bool:
        """Whether the request is for this route."""
        served: bool = (
            scope["type"] == "http"
            and scope["path"] == self.route.path
            and scope["method"] == "POST"
        )
        return served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one request of the route."""
        scope["route"] = self.route  # as the router would: ObserveRequests labels by it
        request = Request(scope, receive)
        try:
            response = await self.endpoint(request)
        except Exception as exc:  # what the app's exception handlers would answer
            response = await self.on_error(request, exc)
        await response(scope, receive, send)


class IngestApp(FastAPI):
    """FastAPI, with the shortcut's route served before FastAPI's own layers."""

    shortcut: tuple[Shortcut, ASGIApp] | None = None  # the route, and what serves it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The shortcut's requests to it, the rest to FastAPI."""
        if self.shortcut is not None and self.shortcut[0].serves(scope):
            scope["app"] = self  # as Starlette would: the endpoint reads app.state
            await self.shortcut[1](scope, receive, send)
            return
        await super().__call__(scope, receive, send)

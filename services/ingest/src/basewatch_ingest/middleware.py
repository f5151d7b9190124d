"""ASGI middleware that observes every request: metrics, and the count of requests in flight.

A plain ASGI class, not ``BaseHTTPMiddleware``: it adds no task and no copy of the body
to a request, which matters on the hot path.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from basewatch_ingest.metrics import Metrics

UNMATCHED = "unmatched"  # one label for every path no route knows: clients choose paths
# Methods are client input too; anything unusual is counted as "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class InFlight:
    """Counts the requests being served so shutdown can wait until none is left."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        """A request started."""
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        """A request finished."""
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request is in flight (the caller bounds the wait)."""
        await self._idle.wait()


class ObserveRequests:
    """Count each HTTP request by route template and status, time it, track it in flight."""

    def __init__(self, app: ASGIApp, metrics: Metrics, in_flight: InFlight) -> None:
        self.app = app
        self.metrics = metrics
        self.in_flight = in_flight
        # Read when scraped, not updated twice per request.
        metrics.in_flight.set_function(lambda: in_flight.count)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve the request through the app, observing its status and duration."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before it responds

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        self.in_flight.enter()
        try:
            await self.app(scope, receive, observe)
        finally:
            self.in_flight.leave()
            method = scope["method"] if scope["method"] in _METHODS else "other"
            seconds = time.perf_counter() - started
            self.metrics.observe_request(_route(scope), method, status, seconds)


def _route(scope: Scope) -> str:
    # FastAPI puts the matched route into the (shared) scope while routing.
    route: Any = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED

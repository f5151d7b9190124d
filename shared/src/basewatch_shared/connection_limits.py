"""What a client may hold of a server before its request is read: the HTTP connection limits.

uvicorn (on httptools) bounds neither the size nor the number of a request's header
fields, nor the time its head or its body may take to arrive: a 50 MB header is
buffered whole (and re-copied at every read), a client trickling header lines or body
bytes holds its connection for ever, and a connection that never sends a byte is never
closed (uvicorn's keep-alive timer starts only after a first response). Its
``limit_concurrency`` answers a plain-text 503 without ``Retry-After``. This protocol,
uvicorn's own with those gaps filled, serves both services:

- the request line and header fields: at most ``max_header_bytes`` bytes and
  ``max_headers`` fields, else ``431``;
- the head must arrive within ``header_timeout`` of the connection or of the request's
  first byte, else ``408`` (a connection that sent nothing is closed silently);
- the body within ``body_timeout`` of the head, else ``408`` (or, once the app has
  answered without reading it, the connection is closed);
- at most ``max_connections`` open connections: a request on one beyond that gets ``503``
  with ``Retry-After``.

A request the HTTP parser cannot read (an empty ``Transfer-Encoding``, a bad character
in the request line) gets ``400``. Each refusal is problem+json and closes the
connection, and every operation of both documents lists them (``problems.protocol_responses``).
Keep-alive idleness stays uvicorn's (``timeout_keep_alive``, 5 s).
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import httptools
import orjson

from basewatch_shared.onewrite import OneWriteProtocol
from basewatch_shared.problems import PROBLEM_JSON
from basewatch_shared.settings import CommonSettings

RETRY_AFTER_S: Final = 1


@dataclass(frozen=True)
class ServerLimits:
    """The limits one server applies to every connection (docs/configuration.md)."""

    max_header_bytes: int = 32 * 1024
    max_headers: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 1000

    @classmethod
    def of(cls, settings: CommonSettings) -> ServerLimits:
        """The limits a service's settings ask for."""
        return cls(
            max_header_bytes=settings.max_header_bytes,
            max_headers=settings.max_headers,
            header_timeout_s=settings.header_timeout.total_seconds(),
            body_timeout_s=settings.body_timeout.total_seconds(),
            max_connections=settings.max_connections,
        )


class _Refused(Exception):
    """Raised inside a parser callback: stop reading, answer ``status`` and close."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def _problem_body(status: int, detail: str) -> bytes:
    title = http.HTTPStatus(status).phrase
    return orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})


def problem_bytes(status: int, detail: str) -> bytes:
    """A whole HTTP/1.1 problem+json response that closes the connection."""
    body = _problem_body(status, detail)
    fields = {
        "content-type": PROBLEM_JSON,
        "content-length": str(len(body)),
        "connection": "close",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
    }
    status_line = f"HTTP/1.1 {status} {http.HTTPStatus(status).phrase}\r\n"
    head = status_line + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return head.encode() + b"\r\n" + body


async def _overloaded(_scope: Any, _receive: Any, send: Callable[[Any], Awaitable[None]]) -> None:
    """The ASGI answer to a request on a connection beyond ``max_connections``."""
    body = _problem_body(503, "too many connections; retry shortly")
    headers = {
        "content-type": PROBLEM_JSON,
        "content-length": str(len(body)),
        "retry-after": str(RETRY_AFTER_S),
        "connection": "close",
        "cache-control": "no-store",
        "x-content-type-options": "nosniff",
    }
    encoded = [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": 503, "headers": encoded})
    await send({"type": "http.response.body", "body": body})


class LimitedHttp(OneWriteProtocol):
    """uvicorn's httptools protocol with the limits of ``LIMITS`` (see the module), writing
    each response's head with its body (``onewrite``)."""

    LIMITS: ClassVar[ServerLimits] = ServerLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._in_head = True  # the next bytes belong to a request's line and header fields
        self._begun = False  # a request's first byte has arrived, its head is incomplete
        self._head_bytes = 0

    # -- the connection -------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept the connection; its first request's head must arrive in time."""
        super().connection_made(transport)
        self._arm(self.LIMITS.header_timeout_s, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """Parse what arrived; refuse a head that grows past the limits."""
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()  # the services serve no WebSocket
        except httptools.HttpParserError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.status, refused.detail)
            else:  # the parser's reason is its own fixed text, never the client's bytes
                self.logger.warning("Invalid HTTP request received.")
                self._refuse(400, f"the request is not valid HTTP/1.1: {exc}")
            return
        if self._in_head:
            # The head is still incomplete, so every byte of this read was part of it
            # (httptools buffers a field whole until it ends: this bounds that buffer).
            self._head_bytes += len(data)
            if self._head_bytes > self.LIMITS.max_header_bytes:
                self._refuse(431, self._too_large())

    # -- parser callbacks -----------------------------------------------------------

    def on_message_begin(self) -> None:
        """A request's first byte: its head must arrive within the header timeout."""
        super().on_message_begin()
        self._in_head, self._begun, self._head_bytes = True, True, 0
        if self._deadline is None:  # a fresh connection's deadline already runs
            self._arm(self.LIMITS.header_timeout_s, self._head_timed_out)

    def on_header(self, name: bytes, value: bytes) -> None:
        """One header field; more than ``max_headers`` stops the request."""
        super().on_header(name, value)
        if len(self.headers) > self.LIMITS.max_headers:
            raise _Refused(431, f"at most {self.LIMITS.max_headers} header fields are allowed")

    def on_headers_complete(self) -> None:
        """The head is whole: check its size, then serve it (or 503 beyond the connections)."""
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.LIMITS.max_header_bytes:
            raise _Refused(431, self._too_large())
        self._in_head = self._begun = False
        self._disarm()
        self._arm(self.LIMITS.body_timeout_s, self._body_timed_out)
        if len(self.connections) <= self.LIMITS.max_connections:
            super().on_headers_complete()
            return
        # uvicorn's own check (limit_concurrency) is left unset: it answers text/plain.
        app, self.app = self.app, _overloaded
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        """The body is whole: no deadline until the next request begins."""
        self._disarm()
        super().on_message_complete()

    # -- deadlines and refusals -----------------------------------------------------

    def _arm(self, seconds: float, handler: Callable[[], None]) -> None:
        self._deadline = self.loop.call_later(seconds, handler)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _head_timed_out(self) -> None:
        self._deadline = None
        if not self._begun:  # nothing was asked: an idle connection just closes
            self.transport.close()
            return
        seconds = f"{self.LIMITS.header_timeout_s:g}"
        self._refuse(408, f"the request's header fields did not arrive within {seconds} s")

    def _body_timed_out(self) -> None:
        self._deadline = None
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()  # answered already; the rest of the body is not wanted
            return
        seconds = f"{self.LIMITS.body_timeout_s:g}"
        self._refuse(408, f"the request body did not arrive within {seconds} s")

    def _too_large(self) -> str:
        limit = self.LIMITS.max_header_bytes
        return f"the request line and header fields are limited to {limit} bytes"

    def _refuse(self, status: int, detail: str) -> None:
        """Answer ``status`` as problem+json and close; an app still reading sees a disconnect."""
        self._disarm()
        if self.cycle is not None and not self.cycle.response_complete:
            self.cycle.disconnected = True  # what the app sends next is dropped
            self.cycle.message_event.set()
        if not self.transport.is_closing():
            self.transport.write(problem_bytes(status, detail))
            self.transport.close()


def limited(limits: ServerLimits) -> type[LimitedHttp]:
    """The protocol class uvicorn is given: ``LimitedHttp`` with these limits."""
    return type("LimitedHttp", (LimitedHttp,), {"LIMITS": limits})

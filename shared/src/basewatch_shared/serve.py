"""Serve an app with uvicorn until SIGTERM or SIGINT, then exit 0 after a graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from basewatch_shared.connection_limits import ServerLimits, limited
from basewatch_shared.settings import CommonSettings
from basewatch_shared.startup import CannotStart


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal after its graceful shutdown, so the process would
        # end "killed by SIGTERM" even when it stopped cleanly; a clean stop exits 0.
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def settle_gc(thresholds: tuple[int, int, int]) -> None:
    """Collect once, freeze what start-up built, and set the collector's ``thresholds``
    (young allocations first; a once-per-process choice, just before serving).

    What is loaded at start lives as long as the process: frozen, no full collection
    walks it again. A request or a batch makes many short-lived objects, acyclic and
    freed by reference counting; the default threshold (700) only rescans live ones.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)


def server_config(app: FastAPI, limits: ServerLimits, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for a basewatch service: its connection limits, no access log."""
    return uvicorn.Config(
        app,
        http=limited(limits),
        log_config=None,
        access_log=False,
        # Neither service reads the client's address (keys, not addresses, are limited),
        # so X-Forwarded-* is not worth a middleware per request; nor is naming uvicorn.
        proxy_headers=False,
        server_header=False,
        **options,
    )


def serve(app: FastAPI, settings: CommonSettings, port: int, graceful_s: int = 10) -> None:
    """Serve ``app``; in-flight requests finish (up to ``graceful_s``), the lifespan closes.

    The app's lifespan runs here rather than inside uvicorn, so an error that stops the
    start (or the stop) reaches the caller as itself, to be told in one line, instead of
    as a traceback uvicorn logs. The port is bound first (one in use is CannotStart, before
    anything is opened) and listens only once the start succeeded.
    """
    sock = bind(settings.host, port)
    config = server_config(
        app,
        ServerLimits.of(settings),
        host=settings.host,
        port=port,
        timeout_graceful_shutdown=graceful_s,
        lifespan="off",
    )
    server = _Server(config)
    with sock, asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(_serve(app, server, sock))


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host``:``port`` (not listening yet); CannotStart if it cannot."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise CannotStart(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise CannotStart(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


async def _serve(app: FastAPI, server: _Server, sock: socket.socket) -> None:
    # A signal during the start is kept and stops the server as soon as it runs.
    with server.capture_signals():
        async with app.router.lifespan_context(app):
            await server.serve(sockets=[sock])

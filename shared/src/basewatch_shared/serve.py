"""Serve an app with uvicorn until SIGTERM or SIGINT, then exit 0 after a graceful stop."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # uvicorn re-raises the signal after its graceful shutdown, so the process would
        # end "killed by SIGTERM" even when it stopped cleanly; a clean stop exits 0.
        with super().capture_signals():
            yield
            self._captured_signals.clear()


def serve(app: FastAPI, host: str, port: int, graceful_s: int = 10) -> None:
    """Serve ``app``; in-flight requests finish (up to ``graceful_s``), the lifespan closes."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=graceful_s,
    )
    _Server(config).run()

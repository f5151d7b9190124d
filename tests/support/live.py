"""A service served over real HTTP by uvicorn, in a thread with an event loop of its own.

schemathesis calls an API synchronously (requests); the app, its lifespan, its Kafka
clients and its database engine run on the server thread's loop, as in production.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from basewatch_shared.connection_limits import ServerLimits
from basewatch_shared.serve import server_config
from tests.support.ports import HOST, bound_socket

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 30.0


@contextmanager
def live(app: FastAPI, limits: ServerLimits | None = None) -> Iterator[str]:
    """Serve ``app`` on a free loopback port until the block ends; yield its base URL.

    Served as the services serve themselves: with their connection limits (the
    defaults unless ``limits`` says otherwise).
    """
    sock = bound_socket()
    port = sock.getsockname()[1]
    config = server_config(app, limits or ServerLimits(), lifespan="on")
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]))
        except BaseException as exc:  # reported by the waiting test, not lost in the thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=f"live-{app.title}", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{app.title} did not start: {failure or 'timeout'}")
            time.sleep(0.02)
        yield f"http://{HOST}:{port}"
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT_S)
        sock.close()
    if thread.is_alive():
        raise RuntimeError(f"{app.title} did not stop within {_STOP_TIMEOUT_S} s")
    if failure:
        raise RuntimeError(f"{app.title} failed while serving") from failure[0]

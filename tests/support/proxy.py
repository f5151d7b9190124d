"""A TCP proxy that can cut every connection: the database 'goes down' and comes back."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Self

from sqlalchemy import make_url


class CuttableProxy:
    """Forwards 127.0.0.1:port to a target; ``cut()`` drops all connections and refuses new
    ones until ``restore()``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self._target = (target_host, target_port)
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self.port = 0

    async def start(self) -> Self:
        """Listen (on a free port the first time, on the same port after a cut)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def cut(self) -> None:
        """Stop listening and reset every open connection."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for pipe in list(self._pipes):
            pipe.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def restore(self) -> None:
        """Accept connections again."""
        await self.start()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self._target)
        except OSError:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        except asyncio.CancelledError:
            pass
        finally:
            self._pipes.discard(task)
            for w in (writer, up_writer):
                w.close()


async def proxy_database(database_url: str) -> tuple[CuttableProxy, str]:
    """A started proxy in front of the database, and the URL that goes through it."""
    url = make_url(database_url)
    proxy = await CuttableProxy(url.host or "127.0.0.1", url.port or 5432).start()
    return proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class FreezingProxy:
    """Forwards 127.0.0.1:port to a Kafka broker, but only each connection's first
    ``requests`` requests: later ones are read and never answered (a broker that froze
    in the middle of a conversation)."""

    def __init__(self, target_host: str, target_port: int, requests: int) -> None:
        self._target, self._requests = (target_host, target_port), requests
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        up_reader, up_writer = await asyncio.open_connection(*self._target)
        back = asyncio.create_task(_pump(up_reader, writer))
        try:
            for _ in range(self._requests):  # a request: a 4-byte size, then that many bytes
                size = await reader.readexactly(4)
                up_writer.write(size + await reader.readexactly(int.from_bytes(size, "big")))
            while await reader.read(65536):
                pass  # held: never forwarded, never answered
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            back.cancel()
            await asyncio.gather(back, return_exceptions=True)
            for w in (writer, up_writer):
                w.close()
            self._tasks.discard(task)

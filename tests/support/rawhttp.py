"""HTTP/1.1 over a bare socket: requests that no HTTP client would send (slow, huge, partial)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

from tests.support.ports import HOST


@dataclass(frozen=True)
class Answer:
    """A response as read off the wire."""

    status: int
    headers: dict[str, str]
    body: bytes


class Connection:
    """One TCP connection to a server, written to and read from by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        """Write ``data`` (a connection the server closed swallows it)."""
        with contextlib.suppress(ConnectionError):
            self.writer.write(data)
            await self.writer.drain()

    def trickle(self, data: bytes, every: float) -> asyncio.Task[None]:
        """Send ``data`` every ``every`` seconds until the task is cancelled (a slow client)."""

        async def run() -> None:
            while True:
                await asyncio.sleep(every)
                await self.send(data)

        return asyncio.create_task(run())

    async def answer(self, within: float) -> Answer:
        """The next response; AssertionError if none arrives within ``within`` seconds."""
        try:
            async with asyncio.timeout(within):
                head = await self.reader.readuntil(b"\r\n\r\n")
                status_line, *lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in filter(None, lines):
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        except TimeoutError:
            raise AssertionError(f"no answer within {within} s") from None
        return Answer(int(status_line.split()[1]), headers, body)

    async def closed(self, within: float) -> bool:
        """Whether the server closes the connection within ``within`` seconds (nothing read)."""
        try:
            async with asyncio.timeout(within):
                return await self.reader.read(1) == b""
        except TimeoutError:
            return False
        except ConnectionError:
            return True


@contextlib.asynccontextmanager
async def connect(port: int) -> AsyncIterator[Connection]:
    """A connection to ``port`` on the loopback, closed when the block ends."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        yield Connection(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def request(method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
    """A request line and header fields, ending the head (the body is the caller's)."""
    fields = {"Host": "basewatch.test", **(headers or {})}
    return (
        f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    ).encode() + b"\r\n"

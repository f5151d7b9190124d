"""A small HTTP/1.1 load generator: keep-alive connections, pre-built requests.

Built on asyncio streams rather than an HTTP client library so that the generator
costs little CPU next to the service it measures: every request is bytes prepared
before the clock starts, and a response is read by its ``Content-Length``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Outcome:
    """What one phase of load produced: statuses, latencies and the events accepted."""

    seconds: float = 0.0
    statuses: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    events_accepted: int = 0
    errors: int = 0
    refusals: list[bytes] = field(default_factory=list)  # the first few bodies not 202

    def record(self, status: int, latency: float, events: int, body: bytes = b"") -> None:
        """Count one response."""
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(latency)
        if status == 202:
            self.events_accepted += events
        elif len(self.refusals) < 3:
            self.refusals.append(body)

    def percentile(self, q: float) -> float:
        """The q-th percentile latency in milliseconds (nearest rank)."""
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))
        return ordered[rank] * 1000

    @property
    def requests(self) -> int:
        """Responses received."""
        return len(self.latencies)


def build_request(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One complete HTTP/1.1 POST, ready to write to a socket."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive HTTP/1.1 connection that sends one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        """Connect to ``host:port``."""
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send a request, read the whole response, return its status and body."""
        self._writer.write(request)
        head = await self._reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self._reader.readexactly(length) if length else b""

    async def close(self) -> None:
        """Close the connection."""
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()


Address = tuple[str, int]


async def closed_loop(
    addresses: Sequence[Address],
    requests: Sequence[tuple[bytes, int]],
    clients: int,
    seconds: float,
) -> Outcome:
    """``clients`` connections each send back to back for ``seconds``; (request, events) pairs.

    Connections are spread round-robin over ``addresses``, as a load balancer would.
    """
    outcome = Outcome()
    cycle = itertools.cycle(requests)
    targets = itertools.cycle(addresses)
    connections = [await Connection.open(*next(targets)) for _ in range(clients)]
    start = time.perf_counter()
    deadline = start + seconds

    async def client(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            request, events = next(cycle)
            sent = time.perf_counter()
            status, body = await connection.send(request)
            outcome.record(status, time.perf_counter() - sent, events, body)

    await asyncio.gather(*(client(c) for c in connections))
    outcome.seconds = time.perf_counter() - start
    for connection in connections:
        await connection.close()
    return outcome


async def open_loop(
    addresses: Sequence[Address],
    requests: Sequence[tuple[bytes, int]],
    rate: float,
    seconds: float,
) -> Outcome:
    """Send at a fixed rate whatever the responses do; latency counts from the scheduled time.

    Measuring from the schedule, not from the send, keeps a slow response from hiding the
    requests that queued behind it (coordinated omission). Requests go round-robin over
    ``addresses``.
    """
    outcome = Outcome()
    cycle = itertools.cycle(requests)
    targets = itertools.cycle(range(len(addresses)))
    idle: list[list[Connection]] = [[] for _ in addresses]
    tasks: set[asyncio.Task[None]] = set()
    start = time.perf_counter()

    async def one(scheduled: float, target: int, request: bytes, events: int) -> None:
        pool = idle[target]
        connection = pool.pop() if pool else await Connection.open(*addresses[target])
        try:
            status, body = await connection.send(request)
        except (OSError, asyncio.IncompleteReadError):
            outcome.errors += 1
            return
        outcome.record(status, time.perf_counter() - scheduled, events, body)
        pool.append(connection)

    for n in itertools.count():
        scheduled = start + n / rate
        if scheduled - start >= seconds:
            break
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        request, events = next(cycle)
        task = asyncio.create_task(one(scheduled, next(targets), request, events))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    outcome.seconds = time.perf_counter() - start
    for pool in idle:
        for connection in pool:
            await connection.close()
    return outcome

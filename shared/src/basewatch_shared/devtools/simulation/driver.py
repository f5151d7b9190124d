"""The run loop: take what is due on the simulated clock, send it in batches, stop cleanly.

Events are generated lazily when simulated time reaches them, so no ``occurred_at`` is
ahead of the clock. When the rate limit or ingest cannot keep up, generated events wait
(at most ``PENDING_MAX``) and the rest stays unscheduled: the run falls ``behind``,
which the progress line shows. Stopping (Ctrl-C, SIGTERM, the end of ``duration``)
sends nothing new and waits for the requests under way; a second Ctrl-C abandons them.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Final

from basewatch_shared.devtools.simulation.clock import SimClock
from basewatch_shared.devtools.simulation.sender import Sender, Stats, TokenBucket
from basewatch_shared.devtools.simulation.traffic import Event, Traffic

PENDING_MAX: Final = 50_000
_LOOP_S: Final = 0.02


class Driver:
    """Feeds a ``Traffic`` to a ``Sender`` as simulated time passes."""

    def __init__(
        self,
        traffic: Traffic,
        clock: SimClock,
        sender: Sender,
        stats: Stats,
        *,
        rate: float,
        batch_max: int,
        concurrency: int,
    ) -> None:
        self.traffic = traffic
        self.clock = clock
        self.stats = stats
        self._sender = sender
        self._bucket = TokenBucket(rate)
        self._batch_max = batch_max
        self._concurrency = concurrency
        self._pending: deque[tuple[float, Event]] = deque()
        self._in_flight: dict[asyncio.Task[None], int] = {}
        self._started = time.monotonic()
        self.elapsed = 0.0
        self.unsent = 0

    @property
    def behind(self) -> float:
        """Wall seconds between now and the oldest event that is due but not sent."""
        if not self._pending:
            return 0.0
        return (self.clock.offset(self.elapsed) - self._pending[0][0]) / self.clock.speed

    async def run(self, stopping: asyncio.Event, abort: asyncio.Event) -> str:
        """Send until stopped, the duration is over or nothing is left; returns why it ended."""
        self._started = time.monotonic()
        limit = self.clock.duration.total_seconds() if self.clock.duration else None
        while True:
            self.elapsed = time.monotonic() - self._started
            if stopping.is_set():
                reason = "stopped"
                break
            if limit is not None and self.elapsed >= limit:
                reason, self.elapsed = "duration reached", limit
                break
            room = PENDING_MAX - len(self._pending)
            if room > 0:
                self._pending.extend(self.traffic.due(self.clock.offset(self.elapsed), room))
            self._dispatch()
            if not self._pending and not self._in_flight and self.traffic.next_at() is None:
                reason = "nothing left to send"
                break
            await self._wait(_LOOP_S)
        stopping.set()  # requests under way stop retrying
        self.unsent = len(self._pending)
        self._pending.clear()
        await self._drain(abort)
        return reason

    def _dispatch(self) -> None:
        while self._pending and len(self._in_flight) < self._concurrency:
            n = min(len(self._pending), self._batch_max, self._bucket.available())
            if n <= 0:
                return
            self._bucket.take(n)
            batch = [self._pending.popleft()[1] for _ in range(n)]
            self._in_flight[asyncio.create_task(self._sender.send(batch))] = n

    async def _wait(self, seconds: float) -> None:
        if not self._in_flight:
            await asyncio.sleep(seconds)
            return
        done, _ = await asyncio.wait(
            self._in_flight, timeout=seconds, return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            del self._in_flight[task]
            task.result()  # a SimulationError (a refused key) ends the run

    async def _drain(self, abort: asyncio.Event) -> None:
        """Wait for the requests under way; on ``abort``, give them up as unconfirmed."""
        while self._in_flight:
            if abort.is_set():
                for task, size in self._in_flight.items():
                    task.cancel()
                    self.stats.unconfirmed += size
                await asyncio.gather(*self._in_flight, return_exceptions=True)
                self._in_flight.clear()
                return
            await self._wait(_LOOP_S * 5)

    async def cancel(self) -> None:
        """Cancel whatever is under way (after an error)."""
        for task in self._in_flight:
            task.cancel()
        await asyncio.gather(*self._in_flight, return_exceptions=True)
        self._in_flight.clear()

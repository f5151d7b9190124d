"""One write on a connection running while the caller computes the next one.

A connection runs one statement at a time, and a batch's fold is Python that needs no
connection: with one write in flight, PostgreSQL executes the rows folded so far while
the consume thread folds the next ones. Writes run in the order started (each waits
for the one before), on the caller's connection and in its transaction. What a write
raises comes out of the next ``start`` or the block's end; when the block itself
raises, the write in flight is waited for (never cancelled half-way through a
statement) and its own error, if any, is dropped for the block's.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from types import TracebackType
from typing import Any


class InFlight:
    """``async with InFlight() as writes: await writes.start(write(...))``."""

    def __init__(self) -> None:
        self._task: asyncio.Task[Any] | None = None

    async def start(self, write: Coroutine[Any, Any, Any]) -> None:
        """Wait for the write before (raising what it raised), then start ``write``."""
        try:
            await self.wait()
        except BaseException:
            write.close()  # never started: no "never awaited" warning
            raise
        self._task = asyncio.ensure_future(write)
        await asyncio.sleep(0)  # a turn for it to send its statement before the caller goes on

    async def wait(self) -> None:
        """Wait for the write in flight, if any; what it raised is raised here."""
        task, self._task = self._task, None
        if task is not None:
            await task

    async def __aenter__(self) -> InFlight:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.wait()
            return
        with contextlib.suppress(Exception):
            await self.wait()

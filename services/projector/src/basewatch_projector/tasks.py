"""The projector's long-running tasks (the consume loop, the outbox), supervised.

Each runs until ``stop`` is set. A task that ends with an error before that is a bug or
an outage it could not ride out: serving stale data silently would be worse than
exiting, so its traceback is logged and the process is asked to stop (SIGTERM, the way
a supervisor would), and closing raises ``Crashed``: the projector exits non-zero and
the supervisor restarts it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Coroutine
from typing import Any, Final

from basewatch_projector.errors import Crashed

log = logging.getLogger("basewatch.projector")
STOP_TIMEOUT_S: Final = 30.0


class Tasks:
    """Starts tasks, notices a crash, and stops them all."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._crashed: list[str] = []

    def start(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` until ``stop`` is set."""
        task = asyncio.create_task(work, name=name)
        task.add_done_callback(self._ended)
        self._tasks.append(task)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if self.stop.is_set() or task.cancelled() or task.exception() is None:
            return
        log.critical(f"{task.get_name()} crashed", exc_info=task.exception())
        self._crashed.append(task.get_name())
        os.kill(os.getpid(), signal.SIGTERM)

    async def close(self) -> None:
        """Stop every task: the work in flight finishes (or is cancelled after a while)."""
        self.stop.set()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=STOP_TIMEOUT_S)
            for task in late:
                task.cancel()  # an unfinished transaction rolls back whole
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._crashed:
            raise Crashed(f"{', '.join(self._crashed)} crashed")

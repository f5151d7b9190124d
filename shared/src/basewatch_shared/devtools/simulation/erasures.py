"""Erasures during a simulation: a share of the customers, each erased some time after
ingest accepted their identify (``POST /v1/customers/{id}/erase``, a key with the erase
scope; docs/erasure.md).

Who is erased is drawn from a random stream of its own, seeded from ``--seed``, so the
events tell the same story with erasures or without. Erased customers keep sending
events: they still count, without personal fields. A 503 or 429 is retried (erasing
twice is one erasure); a refused key (401, 403) ends the erasures, not the run.
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

import httpx

from basewatch_shared.devtools.simulation.sender import (
    RETRY_STATUSES,
    problem_detail,
    retry_after,
    until_answered,
)
from basewatch_shared.devtools.simulation.traffic import Event

_LOOP_S: Final = 0.05
_KEPT_ERRORS: Final = 5


@dataclass
class ErasureStats:
    """What happened to the erasures so far."""

    share: float = 0.0
    planned: int = 0  # customers chosen to be erased
    sent: int = 0  # erasure requests made (once each, however often retried)
    accepted: int = 0  # 202
    rejected: int = 0
    unconfirmed: int = 0  # no answer, or still refused after retrying: outcome unknown
    retried: int = 0  # requests sent again
    key_refused: bool = False  # 401 or 403: no erasure was sent after it
    errors: list[str] = field(default_factory=list)  # the first few refusals, for the user

    def note(self, message: str) -> None:
        """Keep the first few refusal messages."""
        if len(self.errors) < _KEPT_ERRORS:
            self.errors.append(message)


def choose(customer_ids: list[str], share: float, seed: int) -> set[str]:
    """The customers to erase: ``share`` of them, at least one when ``share`` is above 0."""
    if share <= 0 or not customer_ids:
        return set()
    size = min(len(customer_ids), max(1, round(share * len(customer_ids))))
    return set(random.Random(f"erase-{seed}").sample(sorted(customer_ids), size))


class Eraser:
    """Erases the chosen customers one at a time, each a while after its identify was
    accepted (``delay_s``: the fewest and most wall seconds), and at the latest
    ``deadline_s`` after the start (before the end of a run with a duration)."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        key: str,
        chosen: set[str],
        stats: ErasureStats,
        on_erased: Callable[[str], None],
        *,
        delay_s: tuple[float, float],
        deadline_s: float | None,
        seed: int,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._auth = {"Authorization": f"Bearer {key}"}
        self._chosen = chosen
        self._queued: set[str] = set()
        self._due: list[tuple[float, str]] = []  # a heap of (monotonic time, customer_id)
        self.stats = stats
        self._on_erased = on_erased
        self._delay_s = delay_s
        self._rng = random.Random(f"erase-delay-{seed}")
        self._now = now
        self._deadline = None if deadline_s is None else now() + deadline_s
        stats.planned = len(chosen)

    def saw(self, event: Event) -> None:
        """Note an event ingest accepted: a chosen customer's identify puts them in line."""
        customer_id = event.get("customer_id")
        if event["type"] != "identify" or customer_id not in self._chosen:
            return
        if customer_id in self._queued:
            return
        self._queued.add(customer_id)
        due = self._now() + self._rng.uniform(*self._delay_s)
        if self._deadline is not None:
            due = min(due, self._deadline)
        heapq.heappush(self._due, (due, customer_id))

    async def run(self, stopping: asyncio.Event) -> None:
        """Send each erasure when it is due until stopped; the one under way finishes."""
        while not stopping.is_set() and not self.stats.key_refused:
            if self._due and self._due[0][0] <= self._now():
                _, customer_id = heapq.heappop(self._due)
                await self._erase(customer_id, stopping)
            else:
                await asyncio.sleep(_LOOP_S)

    async def _erase(self, customer_id: str, stopping: asyncio.Event) -> None:
        """One erasure, retried until ingest answers it for good, or given up."""
        self.stats.sent += 1
        try:
            await self._until_answered(customer_id, stopping)
        except asyncio.CancelledError:  # a second Ctrl-C: abandoned under way
            self.stats.unconfirmed += 1
            raise

    async def _until_answered(self, customer_id: str, stopping: asyncio.Event) -> None:
        path = f"/v1/customers/{quote(customer_id, safe='')}/erase"

        def again() -> None:
            self.stats.retried += 1

        attempt = functools.partial(self._attempt, path, customer_id)
        if not await until_answered(attempt, stopping, again, self._now):
            self.stats.unconfirmed += 1

    async def _attempt(self, path: str, customer_id: str) -> float | None:
        """One request; None when done, else seconds to wait before retrying (0: back off)."""
        try:
            response = await self._client.post(path, headers=self._auth)
        except httpx.TransportError:
            return 0.0
        status = response.status_code
        if status == 202:
            self.stats.accepted += 1
            self._on_erased(customer_id)
            return None
        if status in RETRY_STATUSES:
            return retry_after(response)
        self.stats.rejected += 1
        if status in (401, 403):
            self.stats.key_refused = True
            self.stats.note(
                f"ingest refused the erase key ({status}: {problem_detail(response)}); no "
                "erasure sent after it: pass a key with the erase scope (--erase-key, "
                "BASEWATCH_ERASE_KEY), or --erase-share 0"
            )
        else:
            self.stats.note(f"erase {customer_id}: {status}: {problem_detail(response)}")
        return None

"""Sending a history through ingest the way a careful client does, and keeping every answer.

A batch that is refused as a whole for a reason that may pass (503, 429, a dropped
connection, a timeout) is sent again, the same events with the same event_ids, until it
is answered or the retry budget is spent. Every answer is recorded per event.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import orjson

from tests.support.checker.history import Event

RETRYABLE = {429, 502, 503, 504}


@dataclass
class Ledger:
    """What happened to each event: acknowledged, refused, retried."""

    answers: dict[str, list[str]] = field(default_factory=dict)  # event_id -> every answer
    acknowledged: set[str] = field(default_factory=set)
    rejected: set[str] = field(default_factory=set)  # refused one by one inside a 202
    refused: Counter[str] = field(default_factory=Counter)  # by status: event deliveries
    deliveries: int = 0
    retried: int = 0  # event deliveries that repeated a refused or unanswered one
    requests: int = 0
    gave_up: set[str] = field(default_factory=set)
    server_errors: int = 0  # 5xx other than 502/503/504: always a bug

    def answer(self, ids: list[str], answer: str) -> None:
        """Record one answer for each of ``ids``."""
        for event_id in ids:
            self.answers.setdefault(event_id, []).append(answer)

    @property
    def acked_count(self) -> int:
        return len(self.acknowledged)


@dataclass
class Sender:
    """Posts batches to ``{ingest}/v1/events`` with bounded concurrency and retries."""

    ingest: str
    key: str
    batch_size: int = 200
    concurrency: int = 4
    rate: float | None = None  # events per second at most (to stretch the load over a fault)
    retry_for: float = 120.0
    timeout: float = 10.0
    ledger: Ledger = field(default_factory=Ledger)
    on_batch: Callable[[], None] | None = None
    _started: float = field(default=0.0, init=False)
    _paced: int = field(default=0, init=False)

    async def send(self, events: list[Event]) -> None:
        """Send ``events`` (in batches) and return once every batch got a final answer."""
        batches = [events[i : i + self.batch_size] for i in range(0, len(events), self.batch_size)]
        queue: asyncio.Queue[list[Event]] = asyncio.Queue()
        for batch in batches:
            queue.put_nowait(batch)
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        limits = httpx.Limits(max_connections=self.concurrency)
        async with httpx.AsyncClient(
            base_url=self.ingest, headers=headers, timeout=self.timeout, limits=limits
        ) as client:

            async def worker() -> None:
                while not queue.empty():
                    await self._post(client, queue.get_nowait())

            await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def _pace(self, n: int) -> None:
        if self.rate is None:
            return
        if not self._started:
            self._started = time.monotonic()
        self._paced += n
        ahead = self._paced / self.rate - (time.monotonic() - self._started)
        if ahead > 0:
            await asyncio.sleep(ahead)

    async def _post(self, client: httpx.AsyncClient, batch: list[Event]) -> None:
        await self._pace(len(batch))
        body = orjson.dumps({"events": batch})
        ids = [e["event_id"] for e in batch]
        deadline = time.monotonic() + self.retry_for
        attempt = 0
        while True:
            ledger = self.ledger
            ledger.requests += 1
            ledger.deliveries += len(batch)
            if attempt:
                ledger.retried += len(batch)
            attempt += 1
            wait = min(0.05 * 2**attempt, 1.0)
            try:
                response = await client.post("/v1/events", content=body)
            except httpx.TransportError as exc:  # refused, reset, timed out: unknown fate
                ledger.refused[type(exc).__name__] += len(batch)
                ledger.answer(ids, type(exc).__name__)
            else:
                status = response.status_code
                if status == 202:
                    self._acknowledged(ids, response.json())
                    break
                ledger.refused[str(status)] += len(batch)
                ledger.answer(ids, str(status))
                if status >= 500 and status not in RETRYABLE:
                    ledger.server_errors += 1
                elif status not in RETRYABLE:  # a final answer: the whole batch is refused
                    ledger.rejected.update(ids)
                    break
                retry_after = response.headers.get("Retry-After", "")
                if retry_after.isdigit():
                    wait = min(float(retry_after), 1.0)
            if time.monotonic() > deadline:
                ledger.gave_up.update(ids)
                break
            await asyncio.sleep(wait)
        if self.on_batch is not None:
            self.on_batch()

    def _acknowledged(self, ids: list[str], body: dict[str, object]) -> None:
        rejected = body.get("rejected") or []
        assert isinstance(rejected, list)
        refused = {int(r["index"]) for r in rejected}
        for index, event_id in enumerate(ids):
            if index in refused:
                self.ledger.rejected.add(event_id)
                self.ledger.refused["202-rejected"] += 1
                self.ledger.answer([event_id], "202-rejected")
            else:
                self.ledger.acknowledged.add(event_id)
                self.ledger.answer([event_id], "202")

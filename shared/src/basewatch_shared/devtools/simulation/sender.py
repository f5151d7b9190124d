"""Sending events to ingest over HTTP: batches, a rate limit, retries with the same ids.

A 503 or 429 is retried after its ``Retry-After`` with the same batch, so the same
``event_id``s (ingest may have produced part of it; the projector counts each id once).
A request that gets no answer is retried too; when it still gets none, its events
count as *unconfirmed*: ingest may or may not have accepted them. 401 and 403 stop
the run: no later request would fare better.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
import orjson

from basewatch_shared.devtools.simulation.traffic import Event

RETRY_STATUSES: Final = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_WAIT_S: Final = 5.0
_GIVE_UP_AFTER_S: Final = 60.0
_KEPT_ERRORS: Final = 5


class SimulationError(Exception):
    """A problem that ends the run, told to the user in one line (no traceback)."""


@dataclass
class Stats:
    """What happened to the events so far."""

    sent: int = 0  # events in requests made (once each, however often retried)
    accepted: int = 0
    rejected: int = 0
    unconfirmed: int = 0  # no answer, or still refused after retrying: outcome unknown
    retried: int = 0  # requests sent again
    requests: int = 0
    errors: list[str] = field(default_factory=list)  # the first few rejections, for the user

    def note(self, message: str) -> None:
        """Keep the first few rejection messages."""
        if len(self.errors) < _KEPT_ERRORS:
            self.errors.append(message)


class TokenBucket:
    """At most ``rate`` events per second, with a burst of one second's worth."""

    def __init__(self, rate: float, now: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = max(1.0, rate)
        self._now = now
        self._tokens = self.burst
        self._at = now()

    def available(self) -> int:
        """Whole events that may be sent now."""
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now
        return int(self._tokens)

    def take(self, n: int) -> None:
        """Spend ``n`` tokens (after ``available`` said they are there)."""
        self._tokens -= n


def check_reachable(url: str, wait_s: float = 0.0, timeout_s: float = 5.0) -> None:
    """Fail with a clear message when nothing answers at ``url`` (within ``wait_s``) or it
    is not basewatch."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            response = httpx.get(f"{url}/healthz", timeout=timeout_s)
            break
        except httpx.HTTPError as exc:
            if time.monotonic() >= deadline:
                raise SimulationError(
                    f"cannot reach ingest at {url} ({_reason(exc)}); is it running? "
                    "`basewatch dev` (or `make run`) starts one on http://127.0.0.1:8080"
                ) from None
        time.sleep(0.2)  # before the event loop starts: nothing else to do meanwhile
    if response.status_code != 200:
        raise SimulationError(
            f"{url}/healthz answered {response.status_code}: is that basewatch ingest?"
        )


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    return text.split("] ")[-1]  # "[Errno 111] Connection refused" -> "Connection refused"


class Sender:
    """POSTs batches to ``{url}/v1/events``; counts outcomes; hands accepted events on."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        stats: Stats,
        on_accepted: Callable[[Event], None],
        stopping: asyncio.Event,
    ) -> None:
        self._client = client
        self._stats = stats
        self._on_accepted = on_accepted
        self._stopping = stopping

    async def send(self, batch: list[Event]) -> None:
        """Send one batch until ingest answers it for good, or give up."""
        stats = self._stats
        stats.sent += len(batch)
        body = orjson.dumps({"events": batch})

        async def attempt() -> float | None:
            stats.requests += 1
            return await self._attempt(batch, body)

        def again() -> None:
            stats.retried += 1

        if not await until_answered(attempt, self._stopping, again):
            stats.unconfirmed += len(batch)

    async def _attempt(self, batch: list[Event], body: bytes) -> float | None:
        """One request; None when done, else seconds to wait before retrying (0: back off)."""
        try:
            response = await self._client.post(
                "/v1/events", content=body, headers={"Content-Type": "application/json"}
            )
        except httpx.TransportError:
            return 0.0
        status = response.status_code
        if status == 202:
            self._accepted(batch, response.json())
            return None
        if status in (401, 403):
            raise SimulationError(
                f"ingest refused the key ({status}: {problem_detail(response)}); pass a key "
                "with the ingest scope: --key, or BASEWATCH_INGEST_KEY"
            )
        if status in RETRY_STATUSES:
            return retry_after(response)
        self._stats.rejected += len(batch)
        self._stats.note(f"{status}: {problem_detail(response)}")
        return None

    def _accepted(self, batch: list[Event], answer: dict[str, Any]) -> None:
        rejected = {item["index"]: item for item in answer.get("rejected", [])}
        self._stats.accepted += len(batch) - len(rejected)
        self._stats.rejected += len(rejected)
        for index, event in enumerate(batch):
            if index in rejected:
                self._stats.note(
                    f"{event['type']} {event['event_id']}: {rejected[index]['errors']}"
                )
            else:
                self._on_accepted(event)


async def until_answered(
    attempt: Callable[[], Awaitable[float | None]],
    stopping: asyncio.Event,
    on_retry: Callable[[], None],
    now: Callable[[], float] = time.monotonic,
) -> bool:
    """Make ``attempt`` (None when answered for good, else seconds to wait before
    retrying, 0: back off) until answered; False when given up (stopping, or retrying
    past ``_GIVE_UP_AFTER_S``): the outcome is then unknown."""
    deadline = now() + _GIVE_UP_AFTER_S
    tries = 0
    while (wait := await attempt()) is not None:
        tries += 1
        if stopping.is_set() or now() + wait > deadline:
            return False
        on_retry()
        await asyncio.sleep(wait if wait > 0 else min(0.2 * 2**tries, _MAX_RETRY_WAIT_S))
    return True


def retry_after(response: httpx.Response) -> float:
    """Seconds to wait before retrying: the answer's ``Retry-After``, within bounds."""
    try:
        seconds = float(response.headers.get("Retry-After", "0"))
    except ValueError:
        seconds = 0.0
    return min(max(seconds, 0.05), _MAX_RETRY_WAIT_S)


def problem_detail(response: httpx.Response) -> str:
    """What a refusal says, in a line: its problem's detail or title, else its text."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(problem, dict):
        return str(problem.get("detail") or problem.get("title") or problem)[:300]
    return str(problem)[:300]

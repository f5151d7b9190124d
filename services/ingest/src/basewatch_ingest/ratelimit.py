"""Per-key rate limits: a token bucket per API key, counted in events, in memory.

Each process keeps its own buckets, so with N ingest processes behind a load balancer
a key may send up to N times its limit; the limit protects a process, not a budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from basewatch_ingest.errors import RateLimited


class TokenBucket:
    """``capacity`` tokens, refilled at ``rate`` per second."""

    __slots__ = ("capacity", "rate", "tokens", "updated")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now

    def refill(self, now: float) -> None:
        """Add the tokens earned since the last call, up to the capacity."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait_for(self, tokens: float) -> float:
        """Seconds until ``tokens`` are there; 0 if they are now."""
        return max(0.0, (tokens - self.tokens) / self.rate)


class RateLimiter:
    """One token bucket per key name; raises RateLimited with a Retry-After in seconds."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def admit(self, key: str) -> None:
        """Refuse before the body is read when the key has not one token left."""
        bucket = self._bucket(key)
        if bucket.tokens < 1:
            raise RateLimited(_seconds(bucket.wait_for(1)))

    def take(self, key: str, events: int) -> None:
        """Charge ``events`` tokens to the key, or raise RateLimited and charge nothing."""
        bucket = self._bucket(key)
        if bucket.tokens < events:
            # Nothing is taken from a refused request, so a retry after the wait succeeds.
            raise RateLimited(_seconds(bucket.wait_for(events)))
        bucket.tokens -= events

    def _bucket(self, key: str) -> TokenBucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:  # keys come from the configuration: the dict stays small
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, now)
        bucket.refill(now)
        return bucket


def _seconds(wait: float) -> int:
    # Retry-After is whole seconds; rounding down would invite an early, refused retry.
    return max(1, math.ceil(wait))

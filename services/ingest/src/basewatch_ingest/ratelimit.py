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

    def wait_for(self, cost: float, now: float) -> float:
        """Seconds until ``cost`` tokens are there (0: they are, and are taken now)."""
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        # Nothing is taken from a refused request, so a retry after the wait succeeds.
        return (cost - self.tokens) / self.rate


class RateLimiter:
    """One token bucket per key name; raises RateLimited with a Retry-After in seconds."""

    def __init__(
        self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def _bucket(self, key: str, now: float) -> TokenBucket:
        bucket = self._buckets.get(key)
        if bucket is None:  # keys come from the configuration: the dict stays small
            bucket = self._buckets[key] = TokenBucket(self._rate, self._burst, now)
        return bucket

    def admit(self, key: str) -> None:
        """Refuse before reading the body when the key has no token left at all."""
        now = self._clock()
        bucket = self._bucket(key, now)
        wait = bucket.wait_for(0, now)
        if bucket.tokens < 1:
            raise RateLimited(_seconds(max(wait, (1 - bucket.tokens) / self._rate)))

    def take(self, key: str, events: int) -> None:
        """Charge ``events`` tokens to the key, or raise RateLimited and charge nothing."""
        now = self._clock()
        wait = self._bucket(key, now).wait_for(events, now)
        if wait:
            raise RateLimited(_seconds(wait))


def _seconds(wait: float) -> int:
    # Retry-After is whole seconds; rounding down would invite an early, refused retry.
    return max(1, math.ceil(wait))

"""Rate limits per key, counted in events: a token bucket with a Retry-After."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from basewatch_ingest.errors import RateLimited
from basewatch_ingest.ratelimit import RateLimiter
from basewatch_ingest.settings import Settings


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def retry_after(limiter: RateLimiter, key: str, events: int) -> int:
    with pytest.raises(RateLimited) as caught:
        limiter.take(key, events)
    return caught.value.retry_after


def test_the_burst_is_available_at_once_then_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=100, burst=1000, clock=clock)
    limiter.take("app", 1000)
    assert retry_after(limiter, "app", 1) == 1
    clock.now += 0.5
    limiter.take("app", 50)
    assert retry_after(limiter, "app", 1) == 1


def test_retry_after_is_when_the_request_would_fit_rounded_up() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=1000, clock=clock)
    limiter.take("app", 800)
    assert retry_after(limiter, "app", 600) == 40  # 200 left, 400 more at 10/s
    assert retry_after(limiter, "app", 201) == 1  # 0.1 s, rounded up to a whole second


def test_a_refused_request_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=10, burst=1000, clock=clock)
    limiter.take("app", 900)
    for _ in range(5):
        retry_after(limiter, "app", 200)
    limiter.take("app", 100)


def test_buckets_are_per_key() -> None:
    limiter = RateLimiter(rate=1, burst=1000, clock=Clock())
    limiter.take("app", 1000)
    limiter.take("other", 1000)
    retry_after(limiter, "app", 1)


def test_the_bucket_never_holds_more_than_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=1000, burst=1000, clock=clock)
    clock.now += 3600
    limiter.take("app", 1000)
    assert retry_after(limiter, "app", 1000) == 1


def test_admit_refuses_an_empty_bucket_before_any_work() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.5, burst=1000, clock=clock)
    limiter.admit("app")
    limiter.take("app", 1000)
    with pytest.raises(RateLimited) as caught:
        limiter.admit("app")
    assert caught.value.retry_after == 2
    clock.now += 2
    limiter.admit("app")


def test_a_burst_smaller_than_a_batch_is_refused_at_start() -> None:
    with pytest.raises(ValidationError, match="one full batch"):
        Settings.model_validate({"rate_limit_burst": 999})
    assert Settings.model_validate({"rate_limit_burst": 1000}).rate_limit_burst == 1000

"""Poll a condition with a deadline instead of sleeping blindly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    until: Callable[[T], bool],
    *,
    within: float = 20,
    interval: float = 0.1,
) -> T:
    """Call ``probe`` until ``until(result)`` holds; fail with the last result after timeout."""
    deadline = time.monotonic() + within
    while True:
        result = await probe()
        if until(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met after {within} s; last value: {result!r}")
        await asyncio.sleep(interval)

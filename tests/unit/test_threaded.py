"""The consume side on a thread of its own: entered and exited there, its errors raised
in the caller, and a caller's loop that stays free while the thread's loop is busy."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from basewatch_projector.threaded import on_own_thread


class Refused(Exception):
    pass


async def test_the_context_runs_on_another_thread_and_exits_there() -> None:
    seen: list[tuple[str, str]] = []

    @asynccontextmanager
    async def side() -> AsyncIterator[asyncio.AbstractEventLoop]:
        seen.append(("enter", threading.current_thread().name))
        yield asyncio.get_running_loop()
        seen.append(("exit", threading.current_thread().name))

    async with on_own_thread(side, "side") as loop:
        assert loop is not asyncio.get_running_loop()
        assert seen == [("enter", "side")]
    assert seen == [("enter", "side"), ("exit", "side")]


async def test_an_error_entering_is_raised_in_the_caller() -> None:
    @asynccontextmanager
    async def side() -> AsyncIterator[None]:
        raise Refused("cannot reach the broker")
        yield

    with pytest.raises(Refused, match="cannot reach the broker"):
        async with on_own_thread(side, "side"):
            pytest.fail("entered a side that failed to start")


async def test_an_error_exiting_is_raised_in_the_caller() -> None:
    @asynccontextmanager
    async def side() -> AsyncIterator[None]:
        yield
        raise Refused("the consume loop crashed")

    with pytest.raises(Refused, match="crashed"):
        async with on_own_thread(side, "side"):
            pass


@pytest.mark.timeout(10)  # on one shared loop the caller's turns never come: it hangs
async def test_the_callers_loop_turns_while_the_threads_loop_is_busy() -> None:
    busy, stop, done = threading.Event(), threading.Event(), threading.Event()

    async def spin() -> None:  # never yields to its loop: a long turn of the consume loop
        busy.set()
        while not stop.is_set():
            pass
        done.set()

    @asynccontextmanager
    async def side() -> AsyncIterator[None]:
        task = asyncio.create_task(spin())
        yield
        await task

    async with on_own_thread(side, "side"):
        await asyncio.to_thread(busy.wait)
        for _ in range(100):
            await asyncio.sleep(0)
        assert not done.is_set(), "the side's loop was free: nothing was shown"
        stop.set()
    assert done.is_set()

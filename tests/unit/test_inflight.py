"""InFlight (storage/inflight.py): one write running while the caller computes; writes
run in the order started, and what one raises reaches the caller."""

from __future__ import annotations

import asyncio

import pytest

from basewatch_projector.storage.inflight import InFlight


class Refused(Exception):
    pass


async def test_writes_run_one_at_a_time_in_order_while_the_caller_goes_on() -> None:
    log: list[str] = []
    gates = [asyncio.Event(), asyncio.Event()]

    async def write(n: int) -> None:
        log.append(f"start {n}")
        await gates[n].wait()
        log.append(f"end {n}")

    async with InFlight() as writes:
        await writes.start(write(0))
        assert log == ["start 0"]  # started before start() returned: the caller goes on
        log.append("caller")
        second = asyncio.ensure_future(writes.start(write(1)))
        await asyncio.sleep(0)
        assert log == ["start 0", "caller"]  # the second waits for the first
        gates[0].set()
        await second
        assert log == ["start 0", "caller", "end 0", "start 1"]
        gates[1].set()
    assert log[-1] == "end 1"  # the block's end waits for the last


async def test_what_a_write_raised_comes_out_of_the_next_start_and_the_next_is_not_run() -> None:
    ran: list[int] = []

    async def write(n: int) -> None:
        ran.append(n)
        if n == 0:
            raise Refused

    with pytest.raises(Refused):
        async with InFlight() as writes:
            await writes.start(write(0))
            await writes.start(write(1))
    assert ran == [0]


async def test_what_the_last_write_raised_comes_out_of_the_block() -> None:
    async def refused() -> None:
        raise Refused

    with pytest.raises(Refused):
        async with InFlight() as writes:
            await writes.start(refused())


async def test_a_block_that_raises_waits_for_the_write_in_flight_and_keeps_its_own_error() -> None:
    finished = asyncio.Event()

    async def write() -> None:
        await asyncio.sleep(0)
        finished.set()
        raise Refused  # dropped: the block's own error is what the caller sees

    with pytest.raises(KeyError):
        async with InFlight() as writes:
            await writes.start(write())
            raise KeyError("the fold failed")
    assert finished.is_set()  # waited for, not cancelled half-way

"""A response's head leaves with its body, in one write; never later than the loop's pass."""

from __future__ import annotations

import asyncio
from typing import Any

from basewatch_shared.onewrite import _HeadWithBody

HEAD = b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n"


class Transport:
    """Records what is written, as the socket would receive it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> Any:
        return f"info {name}"


async def test_head_and_body_are_one_write() -> None:
    transport = Transport()
    held = _HeadWithBody(transport)  # type: ignore[arg-type]
    held.write(HEAD)
    assert transport.writes == []
    held.write(b"{}")
    assert transport.writes == [HEAD + b"{}"]
    await asyncio.sleep(0)  # the pass's end finds nothing held
    assert transport.writes == [HEAD + b"{}"]


async def test_a_head_alone_leaves_at_the_end_of_the_pass() -> None:
    transport = Transport()
    held = _HeadWithBody(transport)  # type: ignore[arg-type]
    held.write(HEAD)  # no body follows (HEAD request, or a body not ready yet)
    await asyncio.sleep(0)
    assert transport.writes == [HEAD]
    held.write(b"{}")
    assert transport.writes == [HEAD, b"{}"]


async def test_other_writes_pass_and_close_writes_what_is_held() -> None:
    transport = Transport()
    held = _HeadWithBody(transport)  # type: ignore[arg-type]
    held.write(b"5\r\nhello\r\n")  # a chunk, not a head
    held.write(HEAD)
    held.close()
    assert transport.writes == [b"5\r\nhello\r\n", HEAD]
    assert transport.closed
    assert held.get_extra_info("peername") == "info peername"


async def test_a_head_held_for_a_client_that_left_is_dropped() -> None:
    transport = Transport()
    held = _HeadWithBody(transport)  # type: ignore[arg-type]
    held.write(HEAD)
    transport.closed = True  # the connection was lost before the pass ended
    await asyncio.sleep(0)
    assert transport.writes == []

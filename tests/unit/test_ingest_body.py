"""Reading a request body: limits on the bytes read, bounded gzip inflation."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterable

import pytest

from basewatch_ingest.body import MAX_BODY_BYTES, read_limited
from basewatch_shared.problems import ProblemError

CHUNK = 64 * 1024


async def chunks(data: bytes | Iterable[bytes], size: int = CHUNK) -> AsyncIterator[bytes]:
    """The body as a server receives it: in chunks."""
    if isinstance(data, bytes):
        data = [data[i : i + size] for i in range(0, len(data), size)]
    for chunk in data:
        yield chunk


async def refused(data: bytes | Iterable[bytes], encoding: str = "") -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        await read_limited(chunks(data), encoding)
    return caught.value


@pytest.mark.parametrize("encoding", ["", "identity", " IDENTITY "])
async def test_a_plain_body_up_to_the_limit_is_read_whole(encoding: str) -> None:
    body = b"x" * MAX_BODY_BYTES
    assert await read_limited(chunks(body), encoding) == body


async def test_a_plain_body_over_the_limit_is_413_whatever_content_length_said() -> None:
    problem = await refused(b"x" * (MAX_BODY_BYTES + 1))
    assert problem.status == 413


async def test_an_endless_body_is_refused_after_the_limit() -> None:
    def endless() -> Iterable[bytes]:
        while True:
            yield b"x" * CHUNK

    problem = await refused(endless())
    assert problem.status == 413


@pytest.mark.parametrize("encoding", ["gzip", "x-gzip", "GZIP"])
async def test_gzip_is_inflated(encoding: str) -> None:
    body = b'{"events": []}' * 1000
    assert await read_limited(chunks(gzip.compress(body), 100), encoding) == body


async def test_gzip_inflating_to_exactly_the_limit_is_accepted() -> None:
    body = b"y" * MAX_BODY_BYTES
    assert await read_limited(chunks(gzip.compress(body)), "gzip") == body


async def test_gzip_bomb_is_413_without_being_inflated_whole() -> None:
    bomb = gzip.compress(b"\0" * (64 << 20), compresslevel=9)  # 64 MiB in ~64 KiB
    tracemalloc.start()
    try:
        problem = await refused(bomb, "gzip")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert problem.status == 413
    assert peak < 4 * MAX_BODY_BYTES  # the limit and a chunk or two, never the bomb


async def test_a_compressed_body_over_the_limit_is_413() -> None:
    incompressible = zlib.compress(bytes(range(256)) * 8000, 0)  # stored, no compression
    problem = await refused(gzip.compress(incompressible * 3, compresslevel=0), "gzip")
    assert problem.status == 413


@pytest.mark.parametrize(
    "data",
    [gzip.compress(b"{}")[:-4], b"not gzip at all", gzip.compress(b"{}") + b"trailing"],
    ids=["truncated", "not gzip", "trailing data"],
)
async def test_malformed_gzip_is_400(data: bytes) -> None:
    problem = await refused(data, "gzip")
    assert problem.status == 400
    assert problem.title == "Malformed gzip"


@pytest.mark.parametrize("encoding", ["br", "deflate", "gzip, gzip", "compress"])
async def test_other_encodings_are_415(encoding: str) -> None:
    problem = await refused(b"{}", encoding)
    assert problem.status == 415

"""Read a request body within the limits: bounded bytes, bounded gzip inflation.

Limits apply to the bytes actually read, never to ``Content-Length``; a gzip body is
inflated in bounded steps, so a bomb is refused after at most the limit plus one
chunk of output, never inflated whole.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

from basewatch_shared.problems import ProblemError

MAX_BODY_BYTES = 1024 * 1024


def _too_large() -> ProblemError:
    return ProblemError(413, "Payload too large", "the request body is limited to 1 MiB")


async def read_limited(chunks: AsyncIterator[bytes], encoding: str) -> bytes:
    """Return the (decompressed) body, or raise 413/415/400 problems."""
    encoding = encoding.strip().lower() or "identity"
    if encoding not in ("identity", "gzip", "x-gzip"):
        raise ProblemError(
            415, "Unsupported encoding", f"Content-Encoding {encoding!r}; use gzip or none"
        )
    if encoding == "identity":
        return await _read_plain(chunks)
    return await _read_gzip(chunks)


async def _read_plain(chunks: AsyncIterator[bytes]) -> bytes:
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _too_large()
    return bytes(body)


async def _read_gzip(chunks: AsyncIterator[bytes]) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    body = bytearray()
    read = 0
    try:
        async for chunk in chunks:
            read += len(chunk)
            if read > MAX_BODY_BYTES:
                raise _too_large()
            # Ask for at most one byte past the limit: more input left over means too big.
            body += inflater.decompress(chunk, MAX_BODY_BYTES + 1 - len(body))
            if len(body) > MAX_BODY_BYTES or inflater.unconsumed_tail:
                raise _too_large()
            if inflater.eof and inflater.unused_data:
                raise ProblemError(400, "Malformed gzip", "data after the end of the gzip stream")
    except zlib.error as exc:
        raise ProblemError(400, "Malformed gzip", str(exc)) from None
    if not inflater.eof:
        raise ProblemError(400, "Malformed gzip", "the gzip stream is truncated")
    return bytes(body)

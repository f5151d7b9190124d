"""Keyset pagination: opaque cursors that hold the last key of the page before.

A cursor is urlsafe base64 of a small JSON object: the list it belongs to, a
fingerprint of the filters it was made under, and the last primary key returned. It
is not signed (a per-process key would break cursors across restarts and replicas):
every decoded value is checked instead, and the key is only ever a bound parameter,
so a forged cursor can at worst skip ahead in the list it names.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Final

import orjson
from fastapi import Query
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.api.queries import Document, Filters
from basewatch_shared.contract.limits import INT64_MAX
from basewatch_shared.contract.scalars import Identifier

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
MAX_CURSOR_CHARS: Final = 1024  # a key is at most 128 characters; this leaves room for JSON
_VERSION: Final = 1
_FIELDS: Final = frozenset({"v", "k", "f", "a"})
# The key goes to the database: a NUL or a lone surrogate would fail there, as a 500.
_KEY: Final = TypeAdapter(Identifier)

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"page size, 1..{MAX_LIMIT}")]
Cursor = Annotated[
    str | None,
    Query(description="`next_cursor` of the previous page, with the same filters"),
]


class InvalidCursor(ValueError):
    """A cursor this API did not make for this list and these filters; str() says why."""


def fingerprint(filters: Mapping[str, str | None]) -> str:
    """A short digest of the filters in use, so a cursor cannot change them mid-walk."""
    given = {name: value for name, value in filters.items() if value is not None}
    return hashlib.sha256(orjson.dumps(given, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def encode(kind: str, filters: Mapping[str, str | None], after: str) -> str:
    """The cursor for the page after the key ``after``."""
    body = {"v": _VERSION, "k": kind, "f": fingerprint(filters), "a": after}
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def decode(cursor: str, kind: str, filters: Mapping[str, str | None]) -> str:
    """The key a cursor continues after; InvalidCursor unless made for this list and filters."""
    if len(cursor) > MAX_CURSOR_CHARS:
        raise InvalidCursor("the cursor is too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = orjson.loads(raw)
    except (binascii.Error, ValueError) as exc:  # orjson.JSONDecodeError is a ValueError
        raise InvalidCursor("the cursor is not one this API made") from exc
    # type() rather than ==: true == 1 in Python, and no cursor we make says true.
    if not isinstance(body, dict) or body.keys() != _FIELDS or type(body["v"]) is not int:
        raise InvalidCursor("the cursor is not one this API made")
    if body["v"] != _VERSION:
        raise InvalidCursor("the cursor is from another version of this API")
    if body["k"] != kind:
        raise InvalidCursor(f"the cursor belongs to another list, not {kind}")
    if body["f"] != fingerprint(filters):
        raise InvalidCursor("the cursor was made with other filters: repeat them unchanged")
    try:
        return _KEY.validate_python(body["a"], strict=True)
    except ValidationError as exc:
        raise InvalidCursor("the cursor holds no valid key") from exc


def decode_position(cursor: str, kind: str, filters: Mapping[str, str | None]) -> int:
    """The integer position a cursor of a numbered list continues after (a signal id)."""
    key = decode(cursor, kind, filters)
    # A position is a BIGINT: "abc" or a number past 2^63 would fail in the query, a 500.
    if not key.isascii() or not key.isdigit() or int(key) > INT64_MAX:
        raise InvalidCursor("the cursor holds no valid position")
    return int(key)


Fetch = Callable[
    [AsyncConnection, Filters, str | None, int], Awaitable[tuple[list[Document], str | None]]
]


async def page(
    conn: AsyncConnection,
    kind: str,
    filters: Filters,
    cursor: str | None,
    limit: int,
    fetch: Fetch,
) -> Document:
    """One page of list ``kind``: the items ``fetch`` finds after the cursor's key, and
    the cursor of the next page (null on the last)."""
    after = None if cursor is None else decode(cursor, kind, filters)
    items, last = await fetch(conn, filters, after, limit)
    return {"items": items, "next_cursor": None if last is None else encode(kind, filters, last)}

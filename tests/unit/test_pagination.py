"""Cursors: opaque, round-trip exactly, and refuse anything this API did not make."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basewatch_projector.api.pagination import InvalidCursor, decode, encode, fingerprint

FILTERS = {"segment": "loyal", "status": None}
ids = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=128
).filter(lambda s: not s.isspace())


@given(ids)
def test_a_cursor_round_trips_any_key(key: str) -> None:
    cursor = encode("customers", FILTERS, key)
    assert cursor.isascii() and "=" not in cursor and "/" not in cursor and "+" not in cursor
    assert decode(cursor, "customers", FILTERS) == key


def test_absent_and_null_filters_are_the_same_filters() -> None:
    assert fingerprint({"segment": "loyal", "status": None}) == fingerprint({"segment": "loyal"})
    assert fingerprint({"segment": "loyal"}) != fingerprint({"status": "loyal"})


def test_a_cursor_is_bound_to_its_list_and_filters() -> None:
    cursor = encode("customers", FILTERS, "c1")
    with pytest.raises(InvalidCursor, match="another list"):
        decode(cursor, "installations", FILTERS)
    with pytest.raises(InvalidCursor, match="other filters"):
        decode(cursor, "customers", {"segment": "one_time"})


def _raw(body: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode()


GOOD = {"v": 1, "k": "customers", "f": fingerprint(FILTERS), "a": "c1"}


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "!!!",
        "a",
        _raw(None),
        _raw([GOOD]),
        _raw({k: v for k, v in GOOD.items() if k != "a"}),
        _raw({**GOOD, "x": 0}),
        _raw({**GOOD, "v": True}),
        _raw({**GOOD, "v": "1"}),
        _raw({**GOOD, "v": 2}),
        _raw({**GOOD, "a": None}),
        _raw({**GOOD, "a": 7}),
        _raw({**GOOD, "a": " "}),
        _raw({**GOOD, "a": "a\nb"}),
        _raw({**GOOD, "a": "y" * 129}),
        base64.urlsafe_b64encode(b'{"v": 1, "a": "\xff"}').decode(),
        "é" * 8,
        "Q" * 2000,
    ],
)
def test_anything_else_is_an_invalid_cursor(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        decode(cursor, "customers", FILTERS)

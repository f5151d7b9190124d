"""Bearer keys: the scheme in any case, the key compared by its digest."""

from __future__ import annotations

import pytest

from basewatch_shared.auth import authenticate
from basewatch_shared.problems import ProblemError
from basewatch_shared.settings import parse_api_keys
from tests.support.keys import INGEST_KEY, TEST_KEYS

KEYS = parse_api_keys(TEST_KEYS)


@pytest.mark.parametrize(
    "header",
    [
        f"Bearer {INGEST_KEY}",
        f"bearer {INGEST_KEY}",  # found by attacking a running stack: refused with 401
        f"BEARER {INGEST_KEY}",
        f"bEaReR   {INGEST_KEY}  ",
    ],
)
def test_the_bearer_scheme_is_case_insensitive(header: str) -> None:
    assert authenticate(KEYS, header).name == "test-app"


@pytest.mark.parametrize(
    ("header", "says"),
    [
        (None, "send Authorization: Bearer <key>"),
        ("", "send Authorization: Bearer <key>"),
        ("Bearer", "send Authorization: Bearer <key>"),
        ("Bearer    ", "send Authorization: Bearer <key>"),
        (f"Basic {INGEST_KEY}", "send Authorization: Bearer <key>"),
        (f"Bearer{INGEST_KEY}", "send Authorization: Bearer <key>"),
        ("Bearer not-a-key", "unknown API key"),
        (f"Bearer {INGEST_KEY.upper()}", "unknown API key"),  # the key itself is exact
    ],
)
def test_anything_else_is_401(header: str | None, says: str) -> None:
    with pytest.raises(ProblemError) as refused:
        authenticate(KEYS, header)
    assert refused.value.status == 401
    assert refused.value.detail == says
    assert refused.value.headers["WWW-Authenticate"] == 'Bearer realm="basewatch"'

"""schemathesis against the projector's OpenAPI document (the read API), on real data.

The projector runs on the real broker over SQLite and over PostgreSQL, after it has
consumed a small history (so lists, cursors and lookups return rows, not only 404s).
Every phase that runs per operation, positive and negative data, every check, with the
read key on both databases; with a key of another scope and with none on SQLite only (the
key is checked before anything else is read, so the database does not matter there).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import assume
from schemathesis import Case, GenerationMode, HookContext
from schemathesis.config._checks import POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES

from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_shared.topics import create_topics
from tests.support.databases import create_schema, drop_schema, sqlite_database
from tests.support.history import history
from tests.support.kafka import (
    TEST_PARTITIONS,
    KafkaBackend,
    fresh_group,
    fresh_topics,
    produce,
)
from tests.support.keys import INGEST_AUTH, READ_AUTH, READ_KEY
from tests.support.live import live
from tests.support.profiles import BACKGROUND_RANDOM, FUZZ, REFUSALS, REFUSED
from tests.support.services import projector_settings_for

pytestmark = BACKGROUND_RANDOM

# A cursor is opaque: the document can say it is a string, but only the API can tell
# whether it made it. A cursor it did not make (or made for other filters) is 400
# "Invalid cursor", documented on each list; to schema-valid input, 400 means nothing
# else on these four operations (elsewhere only a request that is not HTTP, which
# schema-valid data never makes), so it counts as an acceptable answer there.
_LISTS = ("/v1/customers", "/v1/installations", "/v1/signals", "/v1/erasures")
CONFIG: dict[str, Any] = {
    # An unknown query parameter is refused (422), so schemathesis may send extra ones as
    # negative data.
    "generation": {"allow-extra-parameters": True},
    "operations": [
        {
            "include-path": path,
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "400"]
                }
            },
        }
        for path in _LISTS
    ]
    + [
        # A step that is no multiple of the recording interval, since after until, or
        # more than 10,000 times (the one range parser, api/ranges.py), or a product_id with
        # base=customers: schema-valid, refused with 422 (not expressible in the document).
        {
            "include-path": path,
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": [*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "422"]
                }
            },
        }
        for path in ("/v1/history", "/v1/movements", "/v1/sales", "/v1/cohorts")
    ],
}
# The document the service serves at /openapi.json (building it needs no broker).
DOCUMENT = create_app(Settings.model_validate({"api_keys": ""})).openapi()
# The read key goes through schemathesis' own auth, not a header given at each call: a
# negative case that leaves out or spoils the Authorization header is then sent so (and
# must be refused), where a header given at the call would put the key back.
READ_CONFIG = CONFIG | {"auth": {"openapi": {"HTTPBearer": {"bearer": READ_KEY}}}}
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(READ_CONFIG))
refused = schemathesis.openapi.from_dict(
    DOCUMENT, config=schemathesis.Config.from_dict(CONFIG | REFUSALS)
)


def _on_the_wire(_ctx: HookContext, query: dict[str, Any] | None) -> bool:
    """Keep only queries whose every parameter reaches the service as generated.

    requests leaves out a parameter whose value is None, [] or [{}], sends an object as
    its keys (``{"DkrQÖ": ...}`` became ``product_id=DkrQÖ``) and a list of one as that
    one value (``[False]`` became ``product_id=false``), so a case that made a parameter
    so (to break its schema) arrives valid, and schemathesis would blame the service for
    accepting "negative" data it never received (the soak found the last two).
    """
    if not query:
        return True
    if any(isinstance(v, dict) or (isinstance(v, list) and len(v) == 1) for v in query.values()):
        return False  # an object is sent as its keys, a list of one as its one value
    url = requests.Request("GET", "http://fuzz/", params=query).prepare().url or ""
    return set(query) <= set(parse_qs(urlsplit(url).query, keep_blank_values=True))


schema.hook("filter_query")(_on_the_wire)
refused.hook("filter_query")(_on_the_wire)
CUSTOMERS, INSTALLATIONS = 12, 20


@contextmanager
def _projector(
    kind: str, kafka_backend: KafkaBackend, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A projector that has applied a small history, on its own topics and database."""
    topics = fresh_topics()
    bootstrap = kafka_backend.bootstrap_servers
    asyncio.run(create_topics(bootstrap, topics, TEST_PARTITIONS, 1))
    if kind == "sqlite":
        db = sqlite_database(tmp_path_factory.mktemp("fuzz") / "basewatch.db")
    else:
        db = asyncio.run(create_schema(pg_url))
    try:
        asyncio.run(db.migrate())
        asyncio.run(produce(bootstrap, topics, history(CUSTOMERS, INSTALLATIONS, 40)))
        settings = projector_settings_for(kafka_backend, topics, fresh_group(), db)
        with live(create_app(settings)) as base:
            _wait_until_applied(base)
            yield base
    finally:
        if db.schema:
            asyncio.run(drop_schema(db))


@pytest.fixture(scope="module")
def read_apis(
    kafka_backend: KafkaBackend, pg_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], str]]:
    """The projector on a kind of database, started once per module (and kind)."""
    with ExitStack() as stack:
        started: dict[str, str] = {}

        def url(kind: str) -> str:
            if kind not in started:
                started[kind] = stack.enter_context(
                    _projector(kind, kafka_backend, pg_url, tmp_path_factory)
                )
            return started[kind]

        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def read_api_url(request: pytest.FixtureRequest, read_apis: Callable[[str], str]) -> str:
    """The read API on SQLite, then on PostgreSQL."""
    return read_apis(request.param)


def _wait_until_applied(base: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        got = requests.get(f"{base}/v1/summary", headers=READ_AUTH, timeout=5)
        if (
            got.status_code == 200
            and sum(got.json()["installed_base"]["by_status"].values()) == INSTALLATIONS
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"history not applied within {within} s: {got.text}")
        time.sleep(0.1)


@schema.parametrize()
@FUZZ
def test_with_the_read_key(case: Case[Any], read_api_url: str) -> None:
    positive = bool(case.meta and case.meta.generation.mode is GenerationMode.POSITIVE)
    if positive:
        assume(_as_documented(case))
    response = case.call(base_url=read_api_url)
    # The positive check accepts 401 and 403 as answers to valid data: were the key not
    # sent, every case would pass that check unread.
    assert not positive or response.status_code not in (401, 403), response.text
    case.validate_response(response)


def _as_documented(case: Case[Any]) -> bool:
    """Whether each path parameter matches the pattern the document declares for it.

    The soak found schemathesis calling ``"ľì...Ļ'\\x1f"`` a valid product_id, against
    a pattern that refuses control characters (most likely its coverage phase: 3,000
    cases of its generation phase held none); the API refused it (422) as the document
    says, and schemathesis blamed it for refusing valid data.
    """
    declared = DOCUMENT["paths"][case.path][case.method.lower()].get("parameters", [])
    patterns = {p["name"]: p["schema"].get("pattern") for p in declared if p["in"] == "path"}
    return all(
        patterns.get(name) is None or re.search(patterns[name], str(value)) is not None
        for name, value in (case.path_parameters or {}).items()
    )


@refused.parametrize()
@REFUSED
def test_with_a_key_of_another_scope(case: Case[Any], read_apis: Callable[[str], str]) -> None:
    case.call_and_validate(base_url=read_apis("sqlite"), headers=INGEST_AUTH)


@refused.parametrize()
@REFUSED
def test_without_a_key(case: Case[Any], read_apis: Callable[[str], str]) -> None:
    case.call_and_validate(base_url=read_apis("sqlite"))


@pytest.mark.parametrize("path", [*_LISTS])
def test_a_parameter_given_twice_is_refused_after_the_key(
    path: str, read_apis: Callable[[str], str]
) -> None:
    # Found by schemathesis: ?customer_id=a&customer_id=b answered for b alone.
    names = {
        "/v1/installations": "customer_id",
        "/v1/customers": "country",
        "/v1/erasures": "limit",
    }
    name = names.get(path, "kind")
    value = {"country": "DE", "kind": "customer.lapsed", "limit": "5"}.get(name, "c1")
    twice = f"{read_apis('sqlite')}{path}?{name}={value}&{name}={value}"
    refused = requests.get(twice, headers=READ_AUTH, timeout=5)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["errors"] == [
        {"field": f"query.{name}", "message": "given more than once"}
    ]
    assert requests.get(twice, timeout=5).status_code == 401
    once = requests.get(twice.rsplit("&", 1)[0], headers=READ_AUTH, timeout=5)
    assert once.status_code == 200, once.text


@pytest.mark.parametrize("since", ["5.960464477539063e-08", "0", "1732000000"])
def test_history_times_are_rfc3339_only(since: str, read_apis: Callable[[str], str]) -> None:
    # Found by schemathesis: since is documented as a date-time; a unix number was read.
    url = f"{read_apis('sqlite')}/v1/history"
    refused = requests.get(
        url, {"metric": "customers", "since": since}, headers=READ_AUTH, timeout=5
    )
    assert refused.status_code == 422, refused.text
    assert [e["field"] for e in refused.json()["errors"]] == ["query.since"]
    rfc3339 = {"metric": "customers", "since": "2026-11-01T00:00:00Z"}
    accepted = requests.get(url, rfc3339, headers=READ_AUTH, timeout=5)
    assert accepted.status_code == 200, accepted.text


def test_a_query_is_kept_only_if_it_reaches_the_service_as_generated() -> None:
    # The soak's example: an object for product_id, which requests sent as its key.
    nobody: Any = None
    assert not _on_the_wire(nobody, {"status": "uninstalled", "product_id": {"DkrQÖ": 0}})
    assert not _on_the_wire(nobody, {"base": "installations", "product_id": [False]})
    assert not _on_the_wire(nobody, {"product_id": None})
    assert _on_the_wire(nobody, {"status": "uninstalled", "product_id": "DkrQÖ"})

"""schemathesis against ingest's OpenAPI document, on the real broker.

Every phase that runs per operation (examples, coverage, fuzzing), positive and
negative data, every check: no 5xx, every answer documented and matching its schema,
valid input accepted and invalid input refused; with the ingest key, the erase key
(POST /v1/customers/{customer_id}/erase), a key of another scope, and with none.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import schemathesis
from schemathesis import BaseSchema, Case, CheckContext, CheckFunction, Response
from schemathesis.config._checks import (
    NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES,
)
from schemathesis.specs.openapi.checks import positive_data_acceptance

from basewatch_ingest.app import create_app
from basewatch_ingest.openapi import NDJSON
from basewatch_ingest.settings import Settings
from basewatch_shared.topics import Topics, create_topics
from tests.support.ingest import ingest_settings_for
from tests.support.kafka import TEST_PARTITIONS, KafkaBackend
from tests.support.keys import ERASE_KEY, INGEST_KEY, READ_AUTH
from tests.support.live import live
from tests.support.profiles import BACKGROUND_RANDOM, FUZZ, REFUSALS, REFUSED

pytestmark = BACKGROUND_RANDOM

EVENTS = "/v1/events"
# A batch over 1000 events is answered 413 (docs/events.md, and the document says so
# under 413), not the 400/422 schemathesis expects by default for a body that breaks
# maxItems: 413 is added to what counts as refusing negative data on that operation.
CONFIG: dict[str, Any] = {
    "operations": [
        {
            "include-path": EVENTS,
            "checks": {
                "negative_data_rejection": {
                    "expected-statuses": [*NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES, "413"]
                }
            },
        }
    ]
}
# The document the service serves at /openapi.json (building it needs no broker).
DOCUMENT = create_app(Settings.model_validate({})).openapi()
ERASE = "/v1/customers/{customer_id}/erase"


def _with_key(key: str) -> BaseSchema:
    """The document, with ``key`` sent through schemathesis' own auth: a negative case that
    leaves out or spoils the Authorization header is sent so (and must be refused), where
    a header given at each call would put the key back."""
    auth = {"auth": {"openapi": {"HTTPBearer": {"bearer": key}}}}
    return schemathesis.openapi.from_dict(
        DOCUMENT, config=schemathesis.Config.from_dict(CONFIG | auth)
    )


with_the_ingest_key, with_the_erase_key = _with_key(INGEST_KEY), _with_key(ERASE_KEY)
refused = schemathesis.openapi.from_dict(
    DOCUMENT, config=schemathesis.Config.from_dict(CONFIG | REFUSALS)
)


@schemathesis.serializer(NDJSON)
def _ndjson(_ctx: schemathesis.SerializationContext, value: object) -> bytes:
    """The NDJSON body is documented as a string (event lines): sent as its UTF-8 bytes."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


# The rules of an event that JSON Schema cannot state; the document says each in words.
# A schema-valid event refused for one of these (and nothing else) is no finding.
INEXPRESSIBLE = (
    "ahead of the server's clock",  # occurred_at against the server's clock (MAX_FUTURE)
    "between 1970 and 9999 (UTC)",  # checked in UTC; the pattern sees the year as written
    "bytes as compact JSON",  # 32 KiB per event, 8 KiB of properties: sizes in bytes
    "fit in 64 bits",  # JSON Schema cannot tell an integer literal from a float
    # The exact value of a JSON number or of "1e2" notation: digits after conversion.
    "Decimal input should have no more than",
)


@schemathesis.check
def events_refused_only_for_what_no_schema_can_say(
    ctx: CheckContext, response: Response, case: Case[Any]
) -> bool | None:
    """positive_data_acceptance for POST /v1/events, less the rules in INEXPRESSIBLE.

    An NDJSON body is a string of event lines, which JSON Schema cannot describe: only
    its refusals of negative data are checked (the integration tests cover its lines).
    """
    meta = case.meta
    if case.operation.path != EVENTS or meta is None or not meta.generation.mode.is_positive:
        return None
    accepted = {*range(200, 300), 401, 403, 429}
    if response.status_code in accepted or case.media_type == NDJSON:
        return None
    body: Any = orjson.loads(response.content or b"null")
    errors = [e for r in (body or {}).get("rejected") or () for e in r["errors"]]
    unexplained = [e for e in errors if not any(why in e["message"] for why in INEXPRESSIBLE)]
    if response.status_code == 413 or (response.status_code == 422 and errors and not unexplained):
        return None  # 413: a body over 1 MiB (bytes again)
    raise AssertionError(
        f"schema-valid events refused with {response.status_code}: {unexplained or body}"
    )


def _excluded(case: Case[Any]) -> list[CheckFunction]:
    return [positive_data_acceptance] if case.operation.path == EVENTS else []


def _call(case: Case[Any], url: str, headers: dict[str, str] | None) -> None:
    case.call_and_validate(base_url=url, headers=headers, excluded_checks=_excluded(case))


def _call_with_key(case: Case[Any], url: str, *, scope: str) -> None:
    """Call with the schema's key (``scope``: the operation it is for, erase or ingest)."""
    response = case.call(base_url=url)
    positive = bool(case.meta and case.meta.generation.mode.is_positive)
    if positive and scope == ("erase" if case.operation.path == ERASE else "ingest"):
        # Both checks of valid data accept 401 and 403: were the key not sent, every
        # case would pass them unread.
        assert response.status_code not in (401, 403), response.text
    case.validate_response(response, excluded_checks=_excluded(case))


@pytest.fixture(scope="module")
def ingest_url(kafka_backend: KafkaBackend) -> Iterator[str]:
    """One ingest for the module (every operation, every key), on topics of its own."""
    topics = Topics(prefix=f"bwtest.{uuid.uuid4().hex[:10]}.")
    asyncio.run(create_topics(kafka_backend.bootstrap_servers, topics, TEST_PARTITIONS, 1))
    settings = ingest_settings_for(
        kafka_backend.bootstrap_servers, kafka_backend.idempotence, topics
    )
    with live(create_app(settings)) as url:
        yield url


@pytest.mark.slow
@with_the_ingest_key.parametrize()
@FUZZ
def test_with_the_ingest_key(case: Case[Any], ingest_url: str) -> None:
    _call_with_key(case, ingest_url, scope="ingest")


@pytest.mark.slow
@with_the_erase_key.parametrize()
@FUZZ
def test_with_the_erase_key(case: Case[Any], ingest_url: str) -> None:
    _call_with_key(case, ingest_url, scope="erase")


@refused.parametrize()
@REFUSED
def test_with_a_key_of_another_scope(case: Case[Any], ingest_url: str) -> None:
    _call(case, ingest_url, READ_AUTH)


@refused.parametrize()
@REFUSED
def test_without_a_key(case: Case[Any], ingest_url: str) -> None:
    _call(case, ingest_url, None)

"""Regression tests for what schemathesis found in the OpenAPI documents.

Each was a mismatch between a document and the service's answers: a key the documents
did not declare, refusals /v1/ops/lag did not document, an event ``type`` documented as
optional although an event without one is refused, and event fields documented as a bare
string or object whose validators accept far less (or, for amounts, oddly more).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import ValidationError

from basewatch_ingest.app import create_app as create_ingest
from basewatch_ingest.settings import Settings as IngestSettings
from basewatch_projector.app import create_app as create_projector
from basewatch_projector.settings import Settings as ProjectorSettings
from basewatch_shared.contract.events import EVENT_ADAPTER, EVENT_TYPES
from basewatch_shared.contract.scalars import countries, currencies
from basewatch_shared.problems import PROBLEM_JSON

# Building the documents needs no broker and no database (no lifespan runs).
INGEST = create_ingest(IngestSettings.model_validate({})).openapi()
PROJECTOR = create_projector(ProjectorSettings.model_validate({"api_keys": ""})).openapi()
OPEN = {"/healthz", "/readyz", "/metrics"}  # no key needed


def _keyed(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, operations in document["paths"].items()
        if path not in OPEN
        for method, operation in operations.items()
    ]


@pytest.mark.parametrize(
    ("label", "operation"), _keyed(INGEST) + _keyed(PROJECTOR), ids=lambda v: str(v)[:40]
)
def test_each_keyed_operation_declares_the_key_and_documents_its_refusals(
    label: str, operation: dict[str, Any]
) -> None:
    assert operation.get("security") == [{"HTTPBearer": []}], label
    for status in ("401", "403"):
        assert PROBLEM_JSON in operation["responses"][status]["content"], (label, status)


@pytest.mark.parametrize("document", [INGEST, PROJECTOR], ids=["ingest", "projector"])
def test_the_key_is_a_bearer_scheme(document: dict[str, Any]) -> None:
    scheme = document["components"]["securitySchemes"]["HTTPBearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")


def test_the_keyed_operations_are_all_there() -> None:
    labels = {label for label, _ in _keyed(PROJECTOR)}
    assert {"GET /v1/ops/lag", "GET /v1/summary", "GET /v1/customers"} <= labels
    assert {label for label, _ in _keyed(INGEST)} == {
        "POST /v1/events",
        "POST /v1/customers/{customer_id}/erase",
    }


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_each_event_schema_requires_its_type(kind: str) -> None:
    schema = INGEST["components"]["schemas"][kind.capitalize()]
    assert "type" in schema["required"]
    assert schema["properties"]["type"]["const"] == kind
    # ... because the service refuses an event without it.
    event: dict[str, Any] = {"event_id": "e1", "occurred_at": "2026-11-01T00:00:00Z"}
    event |= {name: "x" for name in schema["required"] if name not in ("type", *event)}
    with pytest.raises(ValidationError) as refused:
        EVENT_ADAPTER.validate_python(event)
    assert [error["type"] for error in refused.value.errors()] == ["union_tag_not_found"]


# --- events: what the document allows is what the service accepts -----------------------

SCHEMAS = INGEST["components"]["schemas"]


def _accepts(pattern: str, value: str) -> bool:
    return re.search(pattern, value) is not None


def _purchase(**fields: object) -> dict[str, object]:
    return {
        "type": "purchase",
        "event_id": "e1",
        "occurred_at": "2026-11-01T00:00:00Z",
        "customer_id": "c1",
        "order_id": "o1",
        "product_id": "p1",
        "amount": "1",
        "currency": "EUR",
    } | fields


def _valid(event: dict[str, object]) -> bool:
    try:
        EVENT_ADAPTER.validate_python(event)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize(
    "amount",
    ["19.99", "0", "-0", "0.000", "19.990000", "1e2", "1E-3", "123456789012.123456",
     " 1", "1 ", "+1", "1_000", "\uff11", ".5", "1.", "-1", "-0.5", "0.0000001",
     "1234567890123", "0000000000001", "1e", "NaN", "1e99999999999999999999", "0e999"],
)  # fmt: skip
def test_an_amount_string_is_accepted_exactly_when_the_document_allows_it(amount: str) -> None:
    # Found by schemathesis: the document said any string; pydantic read " 1", "+1",
    # "1_000" and full-width digits as money. Now one pattern says it for both.
    pattern = SCHEMAS["Purchase"]["properties"]["amount"]["anyOf"][1]["pattern"]
    exponent = "e" in amount.lower()  # its digit limits apply to the exact value
    assert _valid(_purchase(amount=amount)) == _accepts(pattern, amount) or (
        exponent and _accepts(pattern, amount)
    )


@pytest.mark.parametrize("quantity", [3, 3.0, 1_000_000.0])
def test_a_quantity_is_any_json_integer(quantity: float) -> None:
    # Found by schemathesis: 379.0 is an integer to JSON Schema, and was refused.
    assert _valid(_purchase(quantity=quantity))
    documented = SCHEMAS["Purchase"]["properties"]["quantity"]
    assert (documented["type"], documented["minimum"], documented["maximum"]) == (
        "integer",
        1,
        1_000_000,
    )


@pytest.mark.parametrize(
    ("name", "codes", "field"),
    [("currency", currencies(), "currency"), ("country", countries(), "traits")],
)
def test_iso_codes_are_documented_exactly_in_any_case(
    name: str, codes: frozenset[str], field: str
) -> None:
    # The document said a bare string; only the codes are accepted, in any case.
    if field == "currency":
        pattern = SCHEMAS["Purchase"]["properties"]["currency"]["pattern"]
    else:
        pattern = SCHEMAS["Traits"]["properties"]["country"]["pattern"]
    others = ["", "E", "EURO", "ZZZ", "ZZ", "E U", "\u017fUR"]
    for code in [*sorted(codes), *(c.lower() for c in codes), *(c.title() for c in codes)]:
        assert _accepts(pattern, code), (name, code)
    for other in others:
        assert not _accepts(pattern, other) or other.upper() in codes, (name, other)


def test_traits_are_left_out_never_null() -> None:
    # The document allowed null for email, name, company and country; null is refused.
    for name, prop in SCHEMAS["Traits"]["properties"].items():
        assert "anyOf" not in prop and prop["type"] == "string", name
        event = {"type": "identify", "event_id": "e1", "occurred_at": "2026-11-01T00:00:00Z"}
        assert not _valid(event | {"customer_id": "c1", "traits": {name: None}})


def test_map_keys_are_constrained_for_every_key() -> None:
    # pydantic documents a key rule as patternProperties, which leaves a key that does not
    # match (one with NUL) unconstrained; the document now says propertyNames.
    assert "patternProperties" not in json.dumps(INGEST)
    usage = SCHEMAS["Heartbeat"]["properties"]["usage"]["anyOf"][0]
    assert usage["propertyNames"]["pattern"] == "^[^\\x00]*$"
    properties = SCHEMAS["Heartbeat"]["properties"]["properties"]["anyOf"][0]
    assert properties["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}
    assert {"type": "null"} in SCHEMAS["JsonValue"]["anyOf"]


def _pydantic_leftovers(node: Any, path: str = "") -> list[str]:
    """Paths of schemas carrying pydantic's constraint names, which JSON Schema ignores."""
    if isinstance(node, list):
        return [p for i, item in enumerate(node) for p in _pydantic_leftovers(item, f"{path}/{i}")]
    if not isinstance(node, dict):
        return []
    here = [path] if "type" in node and {"ge", "gt", "le", "lt"} & node.keys() else []
    return here + [p for k, v in node.items() for p in _pydantic_leftovers(v, f"{path}/{k}")]


@pytest.mark.parametrize("document", [INGEST, PROJECTOR], ids=["ingest", "projector"])
def test_bounds_are_json_schema_keywords(document: dict[str, Any]) -> None:
    # A validator placed before a constraint made pydantic write "ge"/"le" for quantity:
    # JSON Schema ignores those, so the document put no bound on it (schemathesis sent
    # 598903839 as valid).
    assert _pydantic_leftovers(document) == []

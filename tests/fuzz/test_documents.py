"""Regression tests for what schemathesis found in the OpenAPI documents.

Each was a mismatch between a document and the service's answers: a key the documents
did not declare, refusals /v1/ops/lag did not document, an event ``type`` documented as
optional although an event without one is refused.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from basewatch_ingest.app import create_app as create_ingest
from basewatch_ingest.settings import Settings as IngestSettings
from basewatch_projector.app import create_app as create_projector
from basewatch_projector.settings import Settings as ProjectorSettings
from basewatch_shared.events import EVENT_ADAPTER, EVENT_TYPES
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
    assert {label for label, _ in _keyed(INGEST)} == {"POST /v1/events"}


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

"""The OpenAPI document says what POST /v1/events accepts and answers, with examples."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from basewatch_ingest.app import create_app
from basewatch_ingest.openapi import IngestResult
from basewatch_ingest.settings import Settings
from basewatch_shared.contract.events import EVENT_ADAPTER


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    # No lifespan: building the document needs no broker.
    return create_app(Settings.model_validate({})).openapi()


def resolve(document: dict[str, Any], ref: str) -> Any:
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in refs(value)]
    return []


def test_every_reference_resolves(document: dict[str, Any]) -> None:
    for ref in refs(document):
        assert resolve(document, ref), ref


def test_the_three_body_shapes_are_declared_with_valid_examples(document: dict[str, Any]) -> None:
    body = document["paths"]["/v1/events"]["post"]["requestBody"]
    assert body["required"] is True
    json_body = body["content"]["application/json"]
    assert [r["$ref"] for r in json_body["schema"]["oneOf"]] == [
        "#/components/schemas/Event",
        "#/components/schemas/EventBatch",
    ]
    single = json_body["examples"]["single"]["value"]
    EVENT_ADAPTER.validate_python(single)
    for event in json_body["examples"]["batch"]["value"]["events"]:
        EVENT_ADAPTER.validate_python(event)
    ndjson = body["content"]["application/x-ndjson"]
    lines = ndjson["examples"]["ndjson"]["value"].splitlines()
    assert len(lines) == 2
    for line in lines:
        EVENT_ADAPTER.validate_json(line)
    batch = resolve(document, "#/components/schemas/EventBatch")
    assert (
        batch["properties"]["events"]["minItems"],
        batch["properties"]["events"]["maxItems"],
    ) == (1, 1000)
    event = resolve(document, "#/components/schemas/Event")
    assert sorted(event["discriminator"]["mapping"]) == [
        "heartbeat",
        "identify",
        "install",
        "purchase",
        "uninstall",
    ]


@pytest.mark.parametrize("status", ["400", "401", "403", "413", "415", "422", "429", "503"])
def test_each_refusal_is_a_documented_problem(document: dict[str, Any], status: str) -> None:
    response = document["paths"]["/v1/events"]["post"]["responses"][status]
    assert response["description"]
    content = response["content"]["application/problem+json"]
    assert content["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert content["example"]["status"] == int(status)
    if status in ("429", "503"):
        assert "Retry-After" in response["headers"]
    if status == "401":
        assert "WWW-Authenticate" in response["headers"]


def test_202_is_the_result_with_an_example(document: dict[str, Any]) -> None:
    accepted = document["paths"]["/v1/events"]["post"]["responses"]["202"]
    schema = accepted["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/IngestResult"}
    [example] = resolve(document, schema["$ref"])["examples"]
    IngestResult.model_validate(example)


def test_operational_routes_are_documented(document: dict[str, Any]) -> None:
    assert {"/healthz", "/readyz", "/metrics"} <= set(document["paths"])
    assert "503" in document["paths"]["/readyz"]["get"]["responses"]


def test_the_document_is_json() -> None:
    app = create_app(Settings.model_validate({}))
    assert orjson.loads(orjson.dumps(app.openapi()))["openapi"].startswith("3.")

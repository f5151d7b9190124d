"""JSON Schema for the event rules pydantic cannot derive from their validators.

The OpenAPI document of ingest says what an event may hold; where a rule lives in a
Python validator (ISO codes, the storable-JSON rules, 64-bit integers, the timestamp
range), pydantic alone would document a bare ``string`` or ``object`` and clients (and
fuzzers) would believe far more is accepted than is. These schemas say it exactly, or as
exactly as JSON Schema can: sizes in bytes and the clock of the server it cannot say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Final

from pydantic import GetJsonSchemaHandler, TypeAdapter
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from basewatch_shared.contract.limits import INT64_MAX, INT64_MIN

NO_NUL: Final = r"^[^\x00]*$"

# RFC 3339 with an offset, as the validator reads it, from 1970 on (its local year; the
# bound is checked in UTC, a difference of one offset the pattern cannot see).
TIMESTAMP: Final[dict[str, Any]] = {
    "type": "string",
    "format": "date-time",
    "pattern": r"^(19[7-9][0-9]|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
    "description": "RFC 3339 with an offset, between 1970 and 9999 (UTC); at most "
    "BASEWATCH_MAX_FUTURE (default 1h) ahead of the server's clock",
    "examples": ["2026-05-01T12:00:00Z"],
}


def any_case(codes: Iterable[str], description: str, example: str) -> dict[str, Any]:
    """A string that is one of ``codes`` in any letter case (the validator upper-cases)."""
    spelled = ("".join(f"[{c.upper()}{c.lower()}]" for c in code) for code in sorted(codes))
    return {
        "type": "string",
        "pattern": f"^(?:{'|'.join(spelled)})$",
        "description": description,
        "examples": [example],
    }


def int64(minimum: int = INT64_MIN) -> dict[str, Any]:
    """A JSON integer that fits in 64 bits."""
    return {"type": "integer", "minimum": minimum, "maximum": INT64_MAX}


def text(max_length: int | None = None) -> dict[str, Any]:
    """A string without NUL (PostgreSQL cannot store one)."""
    schema: dict[str, Any] = {"type": "string", "pattern": NO_NUL}
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def key(max_length: int) -> dict[str, Any]:
    """What a key of a map may be: 1 to ``max_length`` characters, no NUL."""
    return {"minLength": 1, "maxLength": max_length, "pattern": NO_NUL}


class DocumentedAs:
    """Document a field as type ``shape`` while its own validators do the validating.

    For rules that a validator checks by walking the value (free-form ``properties``):
    the recursive shape is pydantic's to write, with its definitions.
    """

    def __init__(self, shape: Any) -> None:
        self._core = TypeAdapter(shape).core_schema

    def __get_pydantic_json_schema__(
        self, _core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The JSON Schema of ``shape`` instead of the field's own."""
        return handler(self._core)


class BuiltOnFirstUse:
    """Document a type with the JSON Schema ``build`` returns when a document asks for it.

    For schemas made from tables that are themselves built on first use (ISO codes):
    importing the contract, or validating with it, never builds them.
    """

    def __init__(self, build: Callable[[], dict[str, Any]]) -> None:
        self._build = build

    def __get_pydantic_json_schema__(
        self, _core: CoreSchema, _handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        """The schema ``build`` returns, instead of the field's own."""
        return self._build()


def tag_required(schemas: dict[str, Any], union: str) -> None:
    """Mark ``type`` required in each member of the tagged ``union``: it picks the member.

    The models give ``type`` a default (so code can build them without it), which
    pydantic documents as optional; an event without ``type`` is refused.
    """
    for ref in schemas[union]["discriminator"]["mapping"].values():
        event = schemas[ref.rsplit("/", 1)[-1]]
        event["required"] = ["type", *(f for f in event.get("required", []) if f != "type")]


def key_patterns_as_property_names(node: Any) -> None:
    """Document a map's key rule as ``propertyNames``, which every key must satisfy.

    pydantic writes it as ``patternProperties``, which leaves a key that does not match
    unconstrained: the document would allow keys (with NUL) that the service refuses.
    """
    if isinstance(node, list):
        for item in node:
            key_patterns_as_property_names(item)
        return
    if not isinstance(node, dict):
        return
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict) and len(patterns) == 1 and "additionalProperties" not in node:
        ((pattern, values),) = patterns.items()
        del node["patternProperties"]
        node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}
        node["additionalProperties"] = values
    for value in node.values():
        key_patterns_as_property_names(value)

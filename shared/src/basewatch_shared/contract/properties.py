"""Free-form ``properties``: any JSON tree that SQL can store exactly, at most 8 KiB."""

import math
from typing import Annotated, Any

import orjson
from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType

from basewatch_shared.contract.jsonschema import NO_NUL, DocumentedAs
from basewatch_shared.contract.limits import (
    INT64_MAX,
    INT64_MIN,
    MAX_FIELD_CHARS,
    MAX_PROPERTIES_BYTES,
    too_large,
)
from basewatch_shared.contract.scalars import storable


def _find_unstorable(tree: object) -> tuple[str, str] | None:
    """Return (path, reason) for the first value of a JSON tree SQL cannot store exactly."""
    stack: list[tuple[str, object]] = [("", tree)]
    while stack:  # iterative: nesting depth is the client's choice
        path, node = stack.pop()
        prefix = f"{path}." if path else ""
        if isinstance(node, str):
            if not storable(node):
                return path, "strings must not contain NUL or lone surrogates"
        elif node is None or isinstance(node, bool):
            continue
        elif isinstance(node, int):
            if not INT64_MIN <= node <= INT64_MAX:
                return path, "integers must fit in 64 bits"
        elif isinstance(node, float):
            if not math.isfinite(node):
                return path, "numbers must be finite"
        elif isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str) or not storable(key):
                    return f"{prefix}{key}", "keys must be strings without NUL or lone surrogates"
                stack.append((f"{prefix}{key}", item))
        elif isinstance(node, list):
            stack.extend((f"{prefix}{index}", item) for index, item in enumerate(node))
        else:
            return path, f"{type(node).__name__} is not a JSON value"
    return None


def _check_properties(properties: dict[str, Any]) -> dict[str, Any]:
    """Keep free-form properties only if storable and at most MAX_PROPERTIES_BYTES."""
    bad = _find_unstorable(properties)
    if bad is not None:
        # error_list() appends ctx["path"] to the field, e.g. properties.cart.0.sku.
        # pydantic cannot render a lone surrogate in an error's context: escape it.
        path = bad[0][:MAX_FIELD_CHARS].encode(errors="backslashreplace").decode()
        raise PydanticCustomError("property", "{path}: {reason}", {"path": path, "reason": bad[1]})
    try:
        size = len(orjson.dumps(properties))
    except orjson.JSONEncodeError as exc:  # nested deeper than orjson's limit
        raise PydanticCustomError(
            "properties_json", "not serialisable: {why}", {"why": str(exc)}
        ) from exc
    if size > MAX_PROPERTIES_BYTES:
        raise too_large("properties_too_large", "is", size, MAX_PROPERTIES_BYTES)
    return properties


_NoNul = Annotated[str, StringConstraints(pattern=NO_NUL)]
# What _check_properties lets through, as a type: for the OpenAPI document only.
JsonValue = TypeAliasType(
    "JsonValue",
    "_NoNul | Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)] | float | bool"
    " | list[JsonValue] | dict[_NoNul, JsonValue] | None",
)
Properties = Annotated[
    dict[str, Any],
    AfterValidator(_check_properties),
    DocumentedAs(dict[_NoNul, JsonValue]),
    Field(description="free-form, at most 8 KiB as compact JSON; kept, not interpreted"),
]

"""Identify's traits: four known keys, plus flat string, number or boolean values."""

import math
from typing import Annotated, Any, TypeAlias

from pydantic import (
    ConfigDict,
    Field,
    PlainValidator,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from basewatch_shared.contract.base import ContractModel
from basewatch_shared.contract.jsonschema import int64, key, text
from basewatch_shared.contract.limits import INT64_MAX, INT64_MIN, MAX_TRAIT_CHARS, MAX_TRAITS
from basewatch_shared.contract.scalars import Country, Email, Key, Label, storable

TraitScalar: TypeAlias = str | int | float | bool


def _trait_value(value: object) -> TraitScalar:
    """Accept a string (<= 1024 characters), int64, finite float or bool trait value."""
    # A Python validator: a union of constrained types would report one error per
    # member; this gives one clear error, located at the key.
    if isinstance(value, str):
        if len(value) > MAX_TRAIT_CHARS:
            raise PydanticCustomError("trait_too_long", "must be at most 1024 characters")
        if not storable(value):
            raise PydanticCustomError("trait_text", "must not contain NUL or lone surrogates")
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise PydanticCustomError("trait_int", "must fit in 64 bits (int64)")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("trait_float", "must be a finite number")
        return value
    raise PydanticCustomError(
        "trait_type", "must be a string, number or boolean; not null, an object or a list"
    )


TraitValue = Annotated[
    TraitScalar,
    PlainValidator(_trait_value),
    WithJsonSchema(
        {"anyOf": [text(MAX_TRAIT_CHARS), int64(), {"type": "number"}, {"type": "boolean"}]}
    ),
]


def _document_traits(schema: dict[str, Any]) -> None:
    """A trait is left out, never null; at most MAX_TRAITS, keys as for any map."""
    for prop in schema["properties"].values():
        prop.pop("default", None)
        prop.update(*(b for b in prop.pop("anyOf", []) if b.get("type") != "null"))
    schema["maxProperties"] = MAX_TRAITS
    schema["propertyNames"] = key(64)


class Traits(ContractModel):
    """Identify traits: four known keys plus flat string/number/bool values, no nulls."""

    model_config = ConfigDict(extra="allow", json_schema_extra=_document_traits)
    __pydantic_extra__: dict[Key, TraitValue] = Field(init=False)

    email: Email | None = None
    name: Label | None = None
    company: Label | None = None
    country: Country | None = None

    @model_validator(mode="before")
    @classmethod
    def _at_most_max_traits(cls, data: Any) -> Any:
        if isinstance(data, dict) and len(data) > MAX_TRAITS:
            raise PydanticCustomError(
                "too_many_traits", "at most {limit} traits", {"limit": MAX_TRAITS}
            )
        return data

    @field_validator("email", "name", "company", "country", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Consistent with other traits: a trait has a value or is left out.
        if value is None:
            raise PydanticCustomError("trait_value", "must not be null; leave the trait out")
        return value

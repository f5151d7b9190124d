"""Record values as ingest writes them, read by pydantic-core into the contract's models.

``RECORDED`` validates ``(event fields, received_at, source)`` of a record value in one
call, with no Python per field but the ISO code lookups, and gives the event as an
instance of its own model (``Identify``, ...); ``RECORDED_MANY`` a list of them. They read
only the canonical spelling ``RecordEncoder`` writes (timestamps in UTC with a Z,
amounts without trailing zeros, no nulls), which needs no range check: anything else is
left to the full check of ``records``. The size of ``properties`` is checked there too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Final

from pydantic import BaseModel
from pydantic_core import CoreSchema, SchemaValidator
from pydantic_core import core_schema as cs

from basewatch_shared.contract.native import (
    CANONICAL_AMOUNT,
    MODELS,
    RECORDED_TIMESTAMP,
    TRAIT_FIELDS,
    TRAIT_KEYS,
    TRAIT_VALUE,
    field_schemas,
    native,
    timestamp_schema,
    with_json_values,
)
from basewatch_shared.contract.scalars import Identifier, Key
from basewatch_shared.contract.traits import Traits


def _model(model: type[BaseModel], fields: Mapping[str, CoreSchema], **extra: Any) -> CoreSchema:
    """Instances of ``model`` itself, its fields checked by ``fields`` (absent: default)."""
    inner: dict[str, cs.ModelField] = {}
    for name, field in model.model_fields.items():
        schema = cs.literal_schema([field.default]) if name == "type" else fields[name]
        if not field.is_required():
            schema = cs.with_default_schema(schema, default=field.default)
        inner[name] = cs.model_field(schema)
    fields_schema = cs.model_fields_schema(inner, extra_behavior="forbid", **extra)
    return cs.model_schema(model, fields_schema, frozen=True, custom_init=False)


def _recorded_traits() -> CoreSchema:
    traits = _model(
        Traits,
        TRAIT_FIELDS,
        extras_schema=TRAIT_VALUE,
        extras_keys_schema=native(Key),
    )
    traits["schema"]["extra_behavior"] = "allow"
    return cs.chain_schema([TRAIT_KEYS, traits])


def _recorded() -> CoreSchema:
    amount = cs.chain_schema(
        [cs.str_schema(pattern=CANONICAL_AMOUNT, strict=True), cs.decimal_schema()]
    )
    fields = field_schemas(RECORDED_TIMESTAMP, amount, _recorded_traits())
    event = cs.tagged_union_schema(
        {kind: _model(model, fields) for kind, model in MODELS.items()}, discriminator="type"
    )
    envelope = [timestamp_schema(RECORDED_TIMESTAMP), native(Identifier)]
    return cs.tuple_schema([event, *envelope], strict=True)


@contextmanager
def _own_schemas(*models: type[BaseModel]) -> Iterator[None]:
    """Let a schema naming these models build its own validator for them.

    pydantic-core replaces any model schema whose class is complete with that class's
    own validator (a memory saving, pydantic-core #1616), which would undo the point of
    these schemas; it looks the flag up in the class's own ``__dict__`` while building.
    """
    for model in models:
        type.__setattr__(model, "__pydantic_complete__", False)
    try:
        yield
    finally:
        for model in models:
            type.__setattr__(model, "__pydantic_complete__", True)


with _own_schemas(Traits, *MODELS.values()):
    # (event, received_at, source) -> the same, the event as its model; and a list of them.
    RECORDED: Final = SchemaValidator(with_json_values(_recorded()))
    RECORDED_MANY: Final = SchemaValidator(
        with_json_values(cs.list_schema(_recorded(), strict=True, fail_fast=True))
    )

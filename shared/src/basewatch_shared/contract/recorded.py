"""Record values as ingest writes them, read by pydantic-core into the contract's models.

``read`` validates a record value's bytes in one call of ``RECORDED`` (pydantic-core
parses the JSON itself), with no Python per field but the ISO code lookups, and gives the
event as an instance of its own model (``Identify``, ...) with ``received_at`` and
``source``. It reads only the canonical spelling ``RecordEncoder`` writes (timestamps in
UTC with a Z, amounts without trailing zeros, no nulls), which needs no range check:
anything else is left to the full check of ``records``. The size of ``properties`` is
checked there too.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
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

# What the server adds to an event, beside its fields in a record value.
_ENVELOPE: Final = ("received_at", "source")


def _model(
    model: type[BaseModel],
    fields: Mapping[str, CoreSchema],
    envelope: Mapping[str, CoreSchema] | None = None,
    **extra: Any,
) -> CoreSchema:
    """Instances of ``model`` itself, its fields checked by ``fields`` (absent: default),
    plus the required ``envelope`` fields, which ``read`` takes out of the instance."""
    inner: dict[str, cs.ModelField] = {}
    for name, field in model.model_fields.items():
        schema = cs.literal_schema([field.default]) if name == "type" else fields[name]
        if not field.is_required():
            schema = cs.with_default_schema(schema, default=field.default)
        inner[name] = cs.model_field(schema)
    inner.update({name: cs.model_field(schema) for name, schema in (envelope or {}).items()})
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
    envelope = {"received_at": timestamp_schema(RECORDED_TIMESTAMP), "source": native(Identifier)}
    return cs.tagged_union_schema(
        {kind: _model(model, fields, envelope) for kind, model in MODELS.items()},
        discriminator="type",
    )


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
    # A record value's bytes -> its event as its model, received_at and source inside it.
    RECORDED: Final = SchemaValidator(with_json_values(_recorded()))


def read(value: bytes) -> tuple[Any, datetime, str]:
    """A canonical record value: (its event, received_at, source); ValidationError if not.

    One call from bytes costs about half of parsing with orjson and validating the parsed
    objects (measured on the benchmark's records). The envelope is read into the event's
    instance by the same call and moved out of it here, so the event is as its model
    makes it (equal, same fields set).
    """
    event = RECORDED.validate_json(value)
    fields = event.__dict__
    event.__pydantic_fields_set__.difference_update(_ENVELOPE)
    return event, fields.pop("received_at"), fields.pop("source")

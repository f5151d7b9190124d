"""The contract's rules as pydantic-core schemas, checked in Rust: the fast paths' half.

Two fast paths build on them, each with the models as its reference: ``intake`` reads
an event as a client sends it (parsed JSON, in its common spellings) into a dict of the
values its record holds, for ingest; ``recorded`` reads a record value as ingest wrote
it (canonical spellings only) into the contract's own models, for the projector.

Each accepts a subset of what the models accept, never more, and gives equal values
(``tests/unit/test_fast_paths.py`` checks both on generated input). Whatever a fast path
refuses, the models judge, with their messages; so these schemas say nothing to
clients and stop at the first error. Python runs only where no constraint can say the
rule: the ISO code tables (a set lookup), and, in ``intake``, the UTC range and clock
skew of client timestamps and the size limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import TypeAdapter
from pydantic_core import CoreSchema, PydanticCustomError, SchemaValidator
from pydantic_core import core_schema as cs

from basewatch_shared.contract.events import (
    EVENT_TYPES,
    BaseEvent,
    Heartbeat,
    Identify,
    Install,
    Purchase,
    Uninstall,
)
from basewatch_shared.contract.jsonschema import NO_NUL
from basewatch_shared.contract.limits import (
    INT64_MAX,
    INT64_MIN,
    MAX_COUNTERS,
    MAX_QUANTITY,
    MAX_TRAIT_CHARS,
    MAX_TRAITS,
)
from basewatch_shared.contract.scalars import (
    Country,
    Currency,
    Email,
    Identifier,
    Key,
    Label,
    PathId,
    Platform,
)

MODELS: Final[Mapping[str, type[BaseEvent]]] = {
    "identify": Identify,
    "purchase": Purchase,
    "install": Install,
    "heartbeat": Heartbeat,
    "uninstall": Uninstall,
}
assert tuple(MODELS) == EVENT_TYPES


def native(annotated: Any) -> CoreSchema:
    """The core schema of a contract type whose rules are all constraints already."""
    return TypeAdapter(annotated).core_schema


# --- scalars ------------------------------------------------------------------
_TIME = r"[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
# What timestamps.Timestamp reads, from 1971 to 9998: whatever the offset (at most 99:59),
# such a time is within the contract's range in UTC, which then needs no check of its own.
# At most nanoseconds, so that what the client sent stays within a few bytes of the record.
_YEAR_1971_TO_9998 = (
    r"(?:19(?:7[1-9]|[89][0-9])|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
)
CLIENT_TIMESTAMP: Final = (
    rf"^{_YEAR_1971_TO_9998}-[0-9]{{2}}-[0-9]{{2}}{_TIME}"
    r"(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
# How records spell them: UTC, microseconds only when non-zero, 1970 to 9999, so the
# contract's range needs no check of its own.
RECORDED_TIMESTAMP: Final = (
    r"^(?:19[7-9][0-9]|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
    r"(?:\.[0-9]{6})?Z$"
)
# An amount as money.canonical() writes it: within the limits, no trailing zero; and
# as clients write it in plain notation (a JSON number as Python prints it).
CANONICAL_AMOUNT: Final = r"^(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{0,5}[1-9])?$"
PLAIN_AMOUNT: Final = r"^(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,6})?$"


def timestamp_schema(pattern: str) -> CoreSchema:
    """A timestamp written as ``pattern`` allows, parsed as the models parse it (aware)."""
    text = cs.str_schema(pattern=pattern, strict=True)
    if pattern == RECORDED_TIMESTAMP:
        # Always UTC with a Z: ``fromisoformat`` (C) gives ``datetime.UTC`` itself, where
        # pydantic-core's parser gives its own tzinfo, whose every comparison and
        # ``astimezone`` calls back into Python (a profile of the projector's fold).
        return cs.chain_schema([text, cs.no_info_plain_validator_function(datetime.fromisoformat)])
    return cs.chain_schema([text, cs.datetime_schema(tz_constraint="aware", strict=False)])


def _finite_float(ge: float | None = None) -> CoreSchema:
    # A float schema, even strict, would take an int and make it a float: is-instance
    # first. From JSON (records) is-instance cannot be asked; a Python check instead, run
    # only for what reaches it (floats, and ints beyond int64 that the schema before this
    # one refused and the models refuse too).
    finite = cs.float_schema(allow_inf_nan=False, strict=True, ge=ge)
    return cs.json_or_python_schema(
        json_schema=cs.no_info_before_validator_function(_not_an_int, finite),
        python_schema=cs.chain_schema([cs.is_instance_schema(float), finite]),
    )


def _not_an_int(value: Any) -> Any:
    if isinstance(value, int):
        raise PydanticCustomError("float_type", "an integer beyond int64")
    return value


def _int64(minimum: int = INT64_MIN) -> CoreSchema:
    return cs.int_schema(strict=True, ge=minimum, le=INT64_MAX)


def _first_of(*choices: CoreSchema, ref: str | None = None) -> CoreSchema:
    return cs.union_schema(list(choices), mode="left_to_right", ref=ref)


_COUNTER = _first_of(_int64(0), _finite_float(ge=0))
TRAIT_VALUE = _first_of(
    cs.str_schema(strict=True, max_length=MAX_TRAIT_CHARS, pattern=NO_NUL),
    cs.bool_schema(strict=True),
    _int64(),
    _finite_float(),
)


_JSON_VALUE = "basewatch.JsonValue"


def _json_value() -> CoreSchema:
    """Any JSON value SQL stores exactly (properties.py), by the reference ``_JSON_VALUE``.

    Defined once at the top of a schema (``with_json_values``).
    """
    node = cs.definition_reference_schema(_JSON_VALUE)
    return _first_of(
        cs.str_schema(strict=True, pattern=NO_NUL),
        cs.bool_schema(strict=True),
        _int64(),
        _finite_float(),
        _json_object(),
        cs.list_schema(node, strict=True, fail_fast=True),
        cs.none_schema(),
        ref=_JSON_VALUE,
    )


def _json_object() -> CoreSchema:
    key = cs.str_schema(strict=True, pattern=NO_NUL)
    node = cs.definition_reference_schema(_JSON_VALUE)
    return cs.dict_schema(key, node, strict=True, fail_fast=True)


def with_json_values(schema: CoreSchema) -> CoreSchema:
    """``schema`` with the definition its ``properties`` refer to (a ref is global to it)."""
    return cs.definitions_schema(schema, [_json_value()])


def field_schemas(timestamp: str, amount: CoreSchema, traits: CoreSchema) -> dict[str, CoreSchema]:
    """Each event field's schema, by name: a name means the same thing in every event."""
    identifier, in_paths = native(Identifier), native(PathId)
    return {
        "event_id": identifier,
        "occurred_at": timestamp_schema(timestamp),
        "sent_at": timestamp_schema(timestamp),
        "customer_id": in_paths,
        "properties": _json_object(),  # its size is checked apart
        "traits": traits,
        "order_id": identifier,
        "product_id": in_paths,
        "amount": amount,
        "currency": native(Currency),
        "quantity": cs.int_schema(strict=True, ge=1, le=MAX_QUANTITY),
        "installation_id": in_paths,
        "version": identifier,
        "platform": native(Platform),
        "usage": cs.dict_schema(
            native(Key), _COUNTER, max_length=MAX_COUNTERS, strict=True, fail_fast=True
        ),
    }


TRAIT_FIELDS = {
    "email": native(Email),
    "name": native(Label),
    "company": native(Label),
    "country": native(Country),
}
# At most MAX_TRAITS keys, each a Key; then the known ones by their rules.
TRAIT_KEYS = cs.dict_schema(native(Key), max_length=MAX_TRAITS, strict=True, fail_fast=True)


IDENTIFIER: Final = SchemaValidator(native(Identifier))

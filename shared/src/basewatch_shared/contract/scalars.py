"""The contract's scalar field types: identifiers and texts, ISO codes, counters.

Rules are pydantic constraints (checked in Rust) wherever pydantic has one; Python
validators only where it has none. Timestamps are in ``timestamps``, amounts in
``money``.
"""

import functools
import math
from collections.abc import Callable
from typing import Annotated, Final

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from basewatch_shared.contract.jsonschema import NO_NUL, BuiltOnFirstUse, any_case, int64, key
from basewatch_shared.contract.limits import INT64_MAX, MAX_COUNTERS, MAX_QUANTITY

# --- strings ----------------------------------------------------------------
# Any pattern makes pydantic convert to UTF-8, which refuses lone surrogates
# (string_unicode); PostgreSQL can store neither those nor NUL.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_ID_PATTERN = rf"^[^{_CONTROL}]*[^\s{_CONTROL}][^{_CONTROL}]*$"
# The ids the read API takes in its path (/v1/customers/{customer_id}): no "/" either,
# since no path segment can carry one (docs/events.md, "Scalar types").
_PATH_ID_PATTERN = rf"^[^{_CONTROL}/]*[^\s{_CONTROL}/][^{_CONTROL}/]*$"
_EMAIL_PATTERN = r"^[^\x00@]*@[^\x00]*$"
# errors.error_list() shows these instead of the regular expressions themselves.
PATTERN_MESSAGES: Final = {
    _ID_PATTERN: "must contain a visible character and no control characters",
    _PATH_ID_PATTERN: "must contain a visible character, no control characters and no '/' "
    "(the read API could not name it in a path)",
    NO_NUL: "must not contain NUL characters",
    _EMAIL_PATTERN: "must be an email address (contain '@') without NUL characters",
}

Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_ID_PATTERN)]
PathId = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PATH_ID_PATTERN)]
Key = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=NO_NUL)]
Platform = Annotated[str, StringConstraints(max_length=64, pattern=NO_NUL)]
Label = Annotated[str, StringConstraints(max_length=256, pattern=NO_NUL)]
Email = Annotated[str, StringConstraints(max_length=320, pattern=_EMAIL_PATTERN)]


def storable(text: str) -> bool:
    """True if PostgreSQL can store the text: no NUL and no lone surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# --- ISO codes --------------------------------------------------------------
# pycountry's tables are read on first use, not at import: a process that never
# validates a code (the projector, the simulation) never loads them.


@functools.cache
def currencies() -> frozenset[str]:
    """Every ISO 4217 currency code, upper case."""
    import pycountry

    return frozenset(currency.alpha_3 for currency in pycountry.currencies)


@functools.cache
def countries() -> frozenset[str]:
    """Every ISO 3166-1 alpha-2 country code, upper case."""
    import pycountry

    return frozenset(country.alpha_2 for country in pycountry.countries)


def _code_in(codes: Callable[[], frozenset[str]], error: str, message: str) -> AfterValidator:
    """Validator for a case-insensitive ISO code, normalised to upper case."""

    def check(value: str) -> str:
        # isascii: the long s (U+017F) upper-cases to "S"; it must not make "USD".
        code = value.upper()
        if not value.isascii() or code not in codes():
            raise PydanticCustomError(error, message)
        return code

    return AfterValidator(check)


Currency = Annotated[
    str,
    _code_in(currencies, "currency", "must be an ISO 4217 currency code, like USD"),
    BuiltOnFirstUse(lambda: any_case(currencies(), "ISO 4217 currency code, any case", "EUR")),
]
Country = Annotated[
    str,
    _code_in(countries, "country", "must be an ISO 3166-1 alpha-2 country code, like DE"),
    BuiltOnFirstUse(
        lambda: any_case(countries(), "ISO 3166-1 alpha-2 country code, any case", "DE")
    ),
]

# --- numbers ----------------------------------------------------------------
# A Python validator: a union of constrained types would report one error per
# member; this gives one clear error, located at the key.


def _counter(value: object) -> int | float:
    """Accept a non-negative int64 or non-negative finite float counter (not bool)."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= INT64_MAX:
        return value
    if isinstance(value, float) and 0 <= value < math.inf:  # NaN fails both comparisons
        return value
    raise PydanticCustomError("counter", "must be a non-negative integer (int64) or finite number")


def _integral(value: object) -> object:
    # JSON has one number type: 3.0 is the integer 3 (as JSON Schema's "integer" says).
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_COUNTER_SCHEMA: Final = {"anyOf": [int64(minimum=0), {"type": "number", "minimum": 0}]}
Counter = Annotated[int | float, PlainValidator(_counter), WithJsonSchema(_COUNTER_SCHEMA)]
Quantity = Annotated[int, Field(strict=True, ge=1, le=MAX_QUANTITY), BeforeValidator(_integral)]
Usage = Annotated[
    dict[Key, Counter],
    Field(max_length=MAX_COUNTERS),
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_COUNTERS,
            "propertyNames": key(64),
            "additionalProperties": _COUNTER_SCHEMA,
            "description": "non-negative cumulative counters",
        }
    ),
]

"""Exact money: purchase amounts as decimals, stored as integer micro-units.

Money is never a binary float inside basewatch. An amount is validated into a
``Decimal`` (at most 12 integer and 6 fractional digits, so it fits an int64 of
micro-units), travels on Kafka as a decimal string, and the projector stores
``to_micros(amount)`` in an integer column, exact on SQLite and PostgreSQL alike.
"""

import re
from decimal import Decimal
from typing import Annotated, Any, Final

from pydantic import AfterValidator, BeforeValidator, Field, WithJsonSchema
from pydantic_core import PydanticCustomError

MICROS_PER_UNIT: Final = 1_000_000
MAX_FRACTION_DIGITS: Final = 6
MAX_INTEGER_DIGITS: Final = 12


def canonical(amount: Decimal) -> Decimal:
    """Return the amount in plain notation without trailing zeros ("1E+2" -> 100, "-0" -> 0)."""
    # One spelling per value keeps record encoding deterministic. format(..., "f")
    # and the str constructor are exact: no decimal context rounding is involved.
    text = format(amount, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return Decimal(0) if text in ("-0", "0") else Decimal(text)


def to_micros(amount: Decimal) -> int:
    """Return the amount as an exact integer number of micro-units (ValueError if not exact)."""
    if not amount.is_finite():
        raise ValueError(f"amount {amount} is not finite")
    numerator, denominator = amount.as_integer_ratio()
    micros, remainder = divmod(numerator * MICROS_PER_UNIT, denominator)
    if remainder:
        raise ValueError(f"amount {amount} has more than {MAX_FRACTION_DIGITS} fractional digits")
    return micros


def from_micros(micros: int) -> Decimal:
    """Return the decimal amount for an integer number of micro-units (any size, exact)."""
    return canonical(Decimal(f"{micros}E-{MAX_FRACTION_DIGITS}"))


# An amount written as a string: plain decimal notation within the limits, a zero
# (also "-0"), or exponent notation ("1e2", two exponent digits at most), whose limits
# the exact value then meets.
# pydantic alone would also read " 1", "+1", "1_000", ".5" or full-width digits as money.
_TEXT = (
    r"[0-9]{1,12}(?:\.[0-9]{1,6})?"
    r"|-0+(?:\.0+)?"
    r"|(?:[0-9]+(?:\.[0-9]+)?|-0+(?:\.0+)?)[eE][+-]?[0-9]{1,2}"
)
_TEXT_RE: Final = re.compile(_TEXT)
AMOUNT_SCHEMA: Final[dict[str, Any]] = {
    "anyOf": [
        {"type": "number", "minimum": 0, "exclusiveMaximum": 10**MAX_INTEGER_DIGITS},
        {"type": "string", "pattern": f"^(?:{_TEXT})$"},
    ],
    "description": "an exact decimal >= 0 with at most 12 integer and 6 fractional digits, "
    "as a string (19.99) or a JSON number",
    "examples": ["19.99"],
}


def _plain(value: object) -> object:
    if isinstance(value, str) and not _TEXT_RE.fullmatch(value):
        raise PydanticCustomError(
            "amount_text", "must be a decimal >= 0 like 19.99, without spaces or signs"
        )
    return value


# A JSON number reaches pydantic as a float and becomes Decimal(str(float)): the
# shortest spelling that round-trips, so 19.99 -> Decimal("19.99"). That equals the
# number as written whenever it has at most 15 significant digits; larger amounts
# with micro precision must be sent as strings. bool is refused by pydantic.
Amount = Annotated[
    Decimal,
    Field(
        ge=0,
        max_digits=MAX_INTEGER_DIGITS + MAX_FRACTION_DIGITS,
        decimal_places=MAX_FRACTION_DIGITS,
        allow_inf_nan=False,
    ),
    BeforeValidator(_plain),
    AfterValidator(canonical),
    WithJsonSchema(AMOUNT_SCHEMA),
]

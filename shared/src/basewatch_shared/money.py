"""Exact money: purchase amounts as decimals, stored as integer micro-units.

Money is never a binary float inside basewatch. An amount is validated into a
``Decimal`` (at most 12 integer and 6 fractional digits, so it fits an int64 of
micro-units), travels on Kafka as a decimal string, and the projector stores
``to_micros(amount)`` in an integer column, exact on SQLite and PostgreSQL alike.
"""

from decimal import Decimal
from typing import Annotated, Final

from pydantic import AfterValidator, Field

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
    AfterValidator(canonical),
]

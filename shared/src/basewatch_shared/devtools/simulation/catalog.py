"""What the simulated company sells and where its customers live.

Prices are exact decimals in each currency's minor units (JPY has none, KWD three),
so amounts travel as decimal strings and revenue is summed per currency, never across
(docs/events.md, ``basewatch_shared.contract.money``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final


@dataclass(frozen=True)
class Product:
    """One product: its platforms, the versions it ships, list price in USD, max seats."""

    product_id: str
    platforms: tuple[str, ...]
    versions: tuple[str, ...]  # oldest first; heartbeats upgrade along it
    price_usd: Decimal
    max_seats: int = 1
    weight: int = 1  # how often it is bought, relative to the others


@dataclass(frozen=True)
class Country:
    """A country (ISO 3166-1 alpha-2), its currency (ISO 4217) and its share of customers."""

    code: str
    currency: str
    weight: int


PRODUCTS: Final = (
    Product(
        "editor",
        ("windows", "macos", "linux"),
        ("4.2.0", "4.2.1", "4.3.0"),
        Decimal("49.00"),
        weight=5,
    ),
    Product(
        "sync",
        ("windows", "macos", "linux"),
        ("1.8.3", "1.9.0"),
        Decimal("9.99"),
        max_seats=5,
        weight=3,
    ),
    Product("mobile", ("ios", "android"), ("2.0.1", "2.1.0", "2.2.0"), Decimal("4.99"), weight=3),
    Product("gateway", ("arm64",), ("fw-7.1", "fw-7.2"), Decimal("349.00"), weight=1),
)

COUNTRIES: Final = (
    Country("US", "USD", 30),
    Country("DE", "EUR", 14),
    Country("FR", "EUR", 7),
    Country("GB", "GBP", 9),
    Country("JP", "JPY", 7),
    Country("CA", "CAD", 5),
    Country("CH", "CHF", 4),
    Country("SE", "SEK", 4),
    Country("BR", "BRL", 5),
    Country("IN", "INR", 8),
    Country("KW", "KWD", 2),
)

# Fixed for the simulation: units of the currency per USD, and its minor-unit digits.
_PER_USD: Final = {
    "USD": (Decimal(1), 2),
    "EUR": (Decimal("0.92"), 2),
    "GBP": (Decimal("0.79"), 2),
    "JPY": (Decimal(150), 0),
    "CAD": (Decimal("1.36"), 2),
    "CHF": (Decimal("0.88"), 2),
    "SEK": (Decimal("10.5"), 2),
    "BRL": (Decimal("5.05"), 2),
    "INR": (Decimal(83), 2),
    "KWD": (Decimal("0.307"), 3),
}


def price(product: Product, currency: str, seats: int = 1) -> Decimal:
    """The exact amount of ``seats`` of a product in a currency, in its minor units."""
    per_usd, digits = _PER_USD[currency]
    unit = (product.price_usd * per_usd).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_EVEN)
    return unit * seats


def amount_text(amount: Decimal) -> str:
    """A decimal string, never a float and never exponent notation ("7350", "45.08")."""
    return format(amount, "f")

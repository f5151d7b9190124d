"""Revenue sums, exact on both databases for every amount the contract accepts.

An amount is at most 999999999999.999999, just under 10^18 micro-units, and SQLite sums
64-bit integers into a 64-bit integer: ten such purchases overflow it ("integer
overflow", an error, never a wrong number), and the customer, its products and the
customer list would be unreadable for good. So each amount is summed in two parts,
its micro-units above and below 10^9, each under 10^9 per purchase: a group would
need more than 9 * 10^9 purchases to overflow. The parts are joined exactly in
Python. PostgreSQL sums bigint as numeric and would need no split; one query serves
both.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import ColumnElement, func

from basewatch_projector.storage.tables import purchases
from basewatch_shared.contract.money import MICROS_PER_UNIT

_SPLIT: Final = 10**9


def revenue_sums(
    micros: ColumnElement[Any] = purchases.c.amount_micros,
) -> tuple[ColumnElement[Any], ColumnElement[Any]]:
    """The two parts of the sum of ``micros`` (``purchases.amount_micros``, or the same
    column of a subquery) over a group (amounts >= 0)."""
    return func.sum(micros // _SPLIT), func.sum(micros % _SPLIT)


def revenue(high: Any, low: Any) -> str:
    """The exact decimal string of a sum whose parts ``revenue_sums`` selected: the
    plain notation of ``from_micros`` (no exponent, no trailing zeros), in integer
    arithmetic (a year of daily sales formats thousands of them per request)."""
    micros = int(high) * _SPLIT + int(low)
    units, fraction = divmod(abs(micros), MICROS_PER_UNIT)
    sign = "-" if micros < 0 else ""
    if not fraction:
        return f"{sign}{units}"
    return f"{sign}{units}.{fraction:06d}".rstrip("0")

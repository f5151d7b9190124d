"""Revenue sums as text, and sales totals added and subtracted: plain integer arithmetic
that must agree with the exact Decimal path (contract/money.py) for every value."""

from __future__ import annotations

import copy

from hypothesis import given
from hypothesis import strategies as st

from basewatch_projector.api.revenue import revenue
from basewatch_projector.history.sales import Sums, add, zero
from basewatch_shared.contract.money import from_micros

SPLIT = 10**9
parts = st.integers(min_value=-(10**12), max_value=10**12)


@given(parts, parts)
def test_revenue_text_is_the_exact_decimal(high: int, low: int) -> None:
    assert revenue(high, low) == str(from_micros(high * SPLIT + low))


def test_revenue_text_examples() -> None:
    assert [revenue(0, n) for n in (0, 1, 1_500_000, 2_000_000, 10)] == [
        "0",
        "0.000001",
        "1.5",
        "2",
        "0.00001",
    ]
    assert revenue(1, 0) == "1000"  # 10^9 micro-units
    assert revenue(-1, 500_000_000) == "-500"


totals = st.fixed_dictionaries(
    {
        "units": st.integers(0, 10**6),
        "orders": st.integers(0, 10**6),
        "revenue": st.dictionaries(
            st.sampled_from(["EUR", "USD", "JPY"]),
            st.lists(st.integers(0, 10**9), min_size=3, max_size=3),
        ),
    }
)


@given(totals, totals)
def test_adding_then_subtracting_gives_the_total_back(a: Sums, b: Sums) -> None:
    before = copy.deepcopy((a, b))
    back = add(add(a, b), b, -1)
    assert back["units"] == a["units"] and back["orders"] == a["orders"]
    for currency, value in back["revenue"].items():
        assert value == a["revenue"].get(currency, [0, 0, 0])
    assert add(zero(), a)["revenue"] == a["revenue"]
    assert (a, b) == before  # neither operand is changed in place

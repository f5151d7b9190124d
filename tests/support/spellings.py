"""Hypothesis strategies for events as clients spell them, and for records gone wrong.

``client_events`` draws valid events of every type in the many spellings the contract
accepts: timestamps with offsets, lower-case ``t``/``z`` and nanoseconds; amounts as
decimal strings with trailing zeros, exponents, JSON integers and floats; ISO codes in
any case; optional fields present, absent or null; traits, usage and properties of
every JSON kind. Some amounts and codes
drawn are wrong, so that refusals are drawn too. ``mutated`` takes a
JSON object and changes one value, removes a key or adds one: records as a broken or
hostile producer might write them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from basewatch_shared.contract.limits import INT64_MAX, INT64_MIN

ids = st.sampled_from(["c1", "inst-1", " a b ", "évt-€", "x" * 128, "c/1"]) | st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]), min_size=1, max_size=12
).filter(lambda s: not s.isspace())


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    """An RFC 3339 timestamp with an offset, spelled any way the contract reads."""
    moment = draw(st.datetimes(datetime(1970, 1, 2), datetime(9999, 12, 30)))
    offset = draw(st.sampled_from([0, 0, 60, -300, 330, 14 * 60, -(14 * 60)]))
    local = moment.replace(tzinfo=timezone(timedelta(minutes=offset)))
    text = local.isoformat(sep=draw(st.sampled_from(["T", "t", " "])))
    if offset == 0 and draw(st.booleans()):
        text = text.replace("+00:00", draw(st.sampled_from(["Z", "z"])))
    if draw(st.booleans()) and "." not in text:  # a fraction, up to nanoseconds and past
        digits = draw(st.text("0123456789", min_size=1, max_size=12))
        text = text[:19] + "." + digits + text[19:]
    return text


amounts = st.one_of(
    st.sampled_from(["0", "19.99", "19.990", "49.90", "100", "1e2", "1.5E1", "-0", "0.000"]),
    st.sampled_from(["999999999999.999999", "0.000001", "10.0", "007"]),
    st.integers(0, 10**12 - 1),
    st.floats(0, 1e12, exclude_max=True).map(lambda f: round(f, 2)),
    st.decimals(0, 10**12 - 1, places=6).map(str),
)
currencies = st.sampled_from(["EUR", "eur", "Usd", "JPY", "KWD", "chf"])
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(INT64_MIN, INT64_MAX),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
traits = st.fixed_dictionaries(
    {},
    optional={
        "email": st.sampled_from(["a@b.example", "@", "ada@example.com"]),
        "name": st.text(max_size=10),
        "company": st.text(max_size=10),
        "country": st.sampled_from(["DE", "de", "Fr", "us"]),
        "plan": st.one_of(st.booleans(), st.integers(INT64_MIN, INT64_MAX), st.text(max_size=6)),
        "ratio": st.floats(allow_nan=False, allow_infinity=False),
    },
)
usage = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.integers(0, INT64_MAX) | st.floats(0, allow_infinity=False, allow_nan=False),
    max_size=4,
)


def _optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


COMMON: dict[str, st.SearchStrategy[Any]] = {"event_id": ids, "occurred_at": timestamps()}
OPTIONAL: dict[str, st.SearchStrategy[Any]] = {
    "sent_at": _optional(timestamps()),
    "properties": _optional(st.dictionaries(st.text(max_size=5), json_values, max_size=4)),
}
BY_TYPE: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "identify": ({"customer_id": ids}, {"traits": _optional(traits)}),
    "purchase": (
        {
            "customer_id": ids,
            "order_id": ids,
            "product_id": ids,
            "amount": amounts,
            "currency": currencies,
        },
        {"quantity": st.integers(1, 3) | st.just(2.0)},
    ),
    "install": (
        {"customer_id": ids, "installation_id": ids, "product_id": ids, "version": ids},
        {"platform": _optional(st.sampled_from(["linux", "macos", ""]))},
    ),
    "heartbeat": (
        {"installation_id": ids},
        {
            "customer_id": _optional(ids),
            "product_id": _optional(ids),
            "version": _optional(ids),
            "platform": _optional(st.just("linux")),
            "usage": _optional(usage),
        },
    ),
    "uninstall": ({"installation_id": ids}, {"customer_id": _optional(ids)}),
}


@st.composite
def client_events(draw: st.DrawFn) -> dict[str, Any]:
    """A valid event (or, from the amounts and codes drawn, a nearly valid one)."""
    kind = draw(st.sampled_from(sorted(BY_TYPE)))
    required, optional = BY_TYPE[kind]
    fields = st.fixed_dictionaries(COMMON | required, optional=OPTIONAL | optional)
    return {"type": kind, **draw(fields)}


@st.composite
def mutated(draw: st.DrawFn, value: dict[str, Any]) -> dict[str, Any]:
    """``value`` with one key's value replaced, one key removed, or one key added."""
    changed = dict(value)
    key = draw(st.sampled_from(sorted(changed)))
    action = draw(st.sampled_from(["replace", "remove", "add"]))
    if action == "remove":
        del changed[key]
    elif action == "add":
        changed[draw(st.text(max_size=6))] = draw(json_values)
    else:
        changed[key] = draw(json_values | timestamps() | amounts | ids)
    return changed


RECEIVED = datetime(2026, 5, 1, 12, 0, 5, tzinfo=UTC)

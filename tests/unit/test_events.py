"""The event contract (docs/events.md): each rule accepted once, rejected once, by field."""

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
import pytest
from pydantic import ValidationError

from basewatch_shared.contract.errors import error_list
from basewatch_shared.contract.events import (
    EVENT_ADAPTER,
    EVENT_TYPES,
    Event,
    Heartbeat,
    Identify,
    Purchase,
)
from basewatch_shared.contract.limits import INT64_MAX, MAX_EVENT_BYTES, MAX_PROPERTIES_BYTES
from basewatch_shared.contract.money import from_micros, to_micros
from tests.support.examples import EVERYTHING, REQUIRED

DROP = object()  # marks a key to remove from the valid base event


def event(kind: str, **changes: Any) -> dict[str, Any]:
    """A valid event of the given type, with fields replaced (or DROPped)."""
    data: dict[str, Any] = {
        "type": kind,
        "event_id": "evt-1",
        "occurred_at": "2024-05-01T12:00:00Z",
        **REQUIRED[kind],
    }
    for key, value in changes.items():
        if value is DROP:
            del data[key]
        else:
            data[key] = value
    return data


def rejected(data: Any) -> list[dict[str, str]]:
    """The error_list() of an input the contract must reject."""
    with pytest.raises(ValidationError) as info:
        EVENT_ADAPTER.validate_python(data)
    return error_list(info.value)


def rejected_fields(data: Any) -> list[str]:
    """The fields error_list() names for an input the contract must reject."""
    return [error["field"] for error in rejected(data)]


def sized_identify(size: int) -> dict[str, Any]:
    """An identify event exactly `size` bytes long as compact JSON."""
    data = event("identify", traits={f"t{i:02d}": "x" * 1000 for i in range(32)})
    data["traits"]["pad"] = ""
    data["traits"]["pad"] = "x" * (size - len(orjson.dumps(data)))
    assert len(orjson.dumps(data)) == size
    return data


@pytest.mark.parametrize(
    ("kind", "field"),
    [(kind, field) for kind in EVENT_TYPES for field in ("event_id", "occurred_at")]
    + [(kind, field) for kind, fields in REQUIRED.items() for field in fields],
)
def test_required_field_missing_is_rejected(kind: str, field: str) -> None:
    assert rejected_fields(event(kind, **{field: DROP})) == [field]


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_minimal_event_of_each_type_is_accepted(kind: str) -> None:
    parsed = EVENT_ADAPTER.validate_python(event(kind))
    assert parsed.type == kind
    assert parsed.properties is None
    assert parsed.sent_at is None


@pytest.mark.parametrize(
    ("data", "attribute", "expected"),
    [
        pytest.param(event("heartbeat"), "customer_id", None, id="customer_id-optional-heartbeat"),
        pytest.param(
            event("uninstall", customer_id="c"), "customer_id", "c", id="customer_id-given"
        ),
        pytest.param(
            event("heartbeat", sent_at=None), "sent_at", None, id="null-optional-is-absent"
        ),
        pytest.param(
            event("uninstall", event_id=" a b "), "event_id", " a b ", id="id-inner-spaces"
        ),
        pytest.param(event("uninstall", event_id="x" * 128), "event_id", "x" * 128, id="id-128"),
        pytest.param(event("uninstall", event_id="évt-€"), "event_id", "évt-€", id="id-unicode"),
        pytest.param(
            event("uninstall", occurred_at="2024-05-01T14:30:00+02:30"),
            "occurred_at",
            datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            id="offset-normalised-to-utc",
        ),
        pytest.param(
            event("uninstall", occurred_at="2024-05-01t12:00:00.123456789z"),
            "occurred_at",
            datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC),
            id="lower-case-and-nanoseconds",
        ),
        pytest.param(
            event("uninstall", occurred_at="2024-05-01 12:00:00-00:00"),
            "occurred_at",
            datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
            id="space-separator",
        ),
        pytest.param(
            event("uninstall", occurred_at="1970-01-01T00:00:00Z"),
            "occurred_at",
            datetime(1970, 1, 1, tzinfo=UTC),
            id="earliest-year",
        ),
        pytest.param(
            event("uninstall", occurred_at="9999-12-31T23:59:59.999999Z"),
            "occurred_at",
            datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            id="latest-year",
        ),
        pytest.param(
            event("uninstall", occurred_at=datetime(2024, 5, 1, 12, tzinfo=UTC)),
            "occurred_at",
            datetime(2024, 5, 1, 12, tzinfo=UTC),
            id="aware-datetime-object",
        ),
        pytest.param(
            event("purchase", amount="19.99"), "amount", Decimal("19.99"), id="amount-str"
        ),
        pytest.param(event("purchase", amount=20), "amount", Decimal(20), id="amount-int"),
        pytest.param(
            event("purchase", amount=19.99), "amount", Decimal("19.99"), id="amount-float"
        ),
        pytest.param(event("purchase", amount="0"), "amount", Decimal(0), id="amount-zero"),
        pytest.param(
            event("purchase", amount="999999999999.999999"),
            "amount",
            Decimal("999999999999.999999"),
            id="amount-largest",
        ),
        pytest.param(event("purchase", currency="usd"), "currency", "USD", id="currency-lower"),
        pytest.param(event("purchase", currency="EUR"), "currency", "EUR", id="currency-upper"),
        pytest.param(event("purchase"), "quantity", 1, id="quantity-default"),
        pytest.param(
            event("purchase", quantity=1_000_000), "quantity", 1_000_000, id="quantity-max"
        ),
        pytest.param(event("install", platform="linux"), "platform", "linux", id="platform"),
        pytest.param(
            event("heartbeat", usage={"sessions": 3, "active_minutes": 12.5, "zero": 0}),
            "usage",
            {"sessions": 3, "active_minutes": 12.5, "zero": 0},
            id="usage",
        ),
        pytest.param(
            event("heartbeat", usage={f"c{i}": i for i in range(64)}),
            "usage",
            {f"c{i}": i for i in range(64)},
            id="usage-64-counters",
        ),
        pytest.param(
            event("heartbeat", properties={"a": {"b": [1, None, "x", 2.5, True]}, "": {}}),
            "properties",
            {"a": {"b": [1, None, "x", 2.5, True]}, "": {}},
            id="properties-nested",
        ),
        pytest.param(
            event("uninstall", properties={"k": "x" * (MAX_PROPERTIES_BYTES - 8)}),
            "properties",
            {"k": "x" * (MAX_PROPERTIES_BYTES - 8)},
            id="properties-at-limit",
        ),
    ],
)
def test_field_is_accepted(data: dict[str, Any], attribute: str, expected: Any) -> None:
    parsed = EVENT_ADAPTER.validate_python(data)
    assert getattr(parsed, attribute) == expected


@pytest.mark.parametrize("kind", EVENT_TYPES)
def test_every_optional_field_is_accepted(kind: str) -> None:
    data = event(kind, sent_at="2024-05-01T12:00:01Z", properties={"a": 1}, **EVERYTHING[kind])
    if kind not in ("identify", "purchase", "install"):
        data["customer_id"] = "cus-1"
    parsed = EVENT_ADAPTER.validate_python(data)
    assert parsed.model_dump(mode="json", exclude_none=True).keys() == data.keys()


def test_timestamps_are_utc() -> None:
    data = event("uninstall", occurred_at="2024-05-01T13:00:00+01:00")
    parsed = EVENT_ADAPTER.validate_python(data | {"sent_at": "2024-05-01T07:00:00-05:00"})
    assert parsed.occurred_at.tzinfo is UTC
    assert parsed.sent_at is not None and parsed.sent_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("data", "field"),
    [
        # the envelope: type, unknown fields, shape
        pytest.param(event("uninstall", type="signup"), "type", id="type-unknown"),
        pytest.param(event("uninstall", type=DROP), "type", id="type-missing"),
        pytest.param(event("uninstall", colour="red"), "colour", id="unknown-field"),
        pytest.param(event("purchase", traits={}), "traits", id="field-of-another-type"),
        pytest.param([event("uninstall")], "", id="not-an-object"),
        # identifiers
        pytest.param(event("uninstall", event_id=""), "event_id", id="id-empty"),
        pytest.param(event("uninstall", event_id="x" * 129), "event_id", id="id-too-long"),
        pytest.param(event("uninstall", event_id=" \u3000 "), "event_id", id="id-whitespace-only"),
        pytest.param(event("uninstall", event_id="a\tb"), "event_id", id="id-control-char"),
        pytest.param(event("uninstall", event_id="a\x85"), "event_id", id="id-c1-control-char"),
        pytest.param(event("uninstall", event_id="a\x00b"), "event_id", id="id-nul"),
        pytest.param(event("uninstall", event_id="a\ud800"), "event_id", id="id-lone-surrogate"),
        pytest.param(event("uninstall", event_id=7), "event_id", id="id-number"),
        pytest.param(event("identify", customer_id="\n"), "customer_id", id="customer_id-newline"),
        pytest.param(event("heartbeat", customer_id=""), "customer_id", id="customer_id-empty"),
        pytest.param(event("heartbeat", installation_id="  "), "installation_id", id="inst-blank"),
        pytest.param(event("purchase", order_id="o\x00"), "order_id", id="order_id-nul"),
        pytest.param(event("install", product_id="p" * 129), "product_id", id="product_id-long"),
        pytest.param(event("install", version="4.2\x7f"), "version", id="version-control"),
        pytest.param(event("install", platform="p" * 65), "platform", id="platform-long"),
        pytest.param(event("heartbeat", platform="a\x00"), "platform", id="platform-nul"),
        # timestamps
        pytest.param(
            event("uninstall", occurred_at="2024-05-01T12:00:00"), "occurred_at", id="naive"
        ),
        pytest.param(
            event("uninstall", occurred_at=datetime(2024, 5, 1)), "occurred_at", id="naive-object"
        ),
        pytest.param(event("uninstall", sent_at="2024-05-01T12:00:00"), "sent_at", id="sent-naive"),
        pytest.param(event("uninstall", occurred_at=1714564800), "occurred_at", id="unix-number"),
        pytest.param(event("uninstall", occurred_at="1714564800"), "occurred_at", id="unix-string"),
        pytest.param(event("uninstall", occurred_at="2024-05-01"), "occurred_at", id="date-only"),
        pytest.param(
            event("uninstall", occurred_at="2024-05-01T12:00Z"), "occurred_at", id="no-sec"
        ),
        pytest.param(
            event("uninstall", occurred_at="2024-05-01T12:00:00+0200"),
            "occurred_at",
            id="bad-offset",
        ),
        pytest.param(
            event("uninstall", occurred_at="2024-02-30T12:00:00Z"), "occurred_at", id="no-such-day"
        ),
        pytest.param(
            event("uninstall", occurred_at="1969-12-31T23:59:59Z"), "occurred_at", id="before-1970"
        ),
        pytest.param(
            event("uninstall", occurred_at="9999-12-31T23:00:00-05:00"),
            "occurred_at",
            id="after-9999-in-utc",
        ),
        pytest.param(
            event("uninstall", occurred_at="0001-01-01T00:30:00+01:00"),
            "occurred_at",
            id="before-year-1-in-utc",
        ),
        pytest.param(event("uninstall", occurred_at=True), "occurred_at", id="timestamp-bool"),
        # money
        pytest.param(event("purchase", amount="-1"), "amount", id="amount-negative"),
        pytest.param(event("purchase", amount=-0.01), "amount", id="amount-negative-float"),
        pytest.param(event("purchase", amount="1.1234567"), "amount", id="amount-7-decimals"),
        pytest.param(event("purchase", amount="1000000000000"), "amount", id="amount-13-digits"),
        pytest.param(event("purchase", amount=1e13), "amount", id="amount-float-13-digits"),
        pytest.param(event("purchase", amount="NaN"), "amount", id="amount-nan-string"),
        pytest.param(event("purchase", amount="Infinity"), "amount", id="amount-inf-string"),
        pytest.param(event("purchase", amount=math.inf), "amount", id="amount-inf-float"),
        pytest.param(event("purchase", amount="1e400"), "amount", id="amount-1e400"),
        pytest.param(event("purchase", amount=True), "amount", id="amount-bool"),
        pytest.param(event("purchase", amount="12 EUR"), "amount", id="amount-text"),
        pytest.param(event("purchase", amount=None), "amount", id="amount-null"),
        pytest.param(event("purchase", currency="XYZ"), "currency", id="currency-unknown"),
        pytest.param(event("purchase", currency="US"), "currency", id="currency-short"),
        pytest.param(event("purchase", currency="u\u017fd"), "currency", id="currency-non-ascii"),
        pytest.param(event("purchase", currency=840), "currency", id="currency-number"),
        pytest.param(event("purchase", quantity=0), "quantity", id="quantity-zero"),
        pytest.param(event("purchase", quantity=1_000_001), "quantity", id="quantity-too-big"),
        pytest.param(event("purchase", quantity=True), "quantity", id="quantity-bool"),
        pytest.param(event("purchase", quantity=2.5), "quantity", id="quantity-fraction"),
        pytest.param(event("purchase", quantity="2"), "quantity", id="quantity-string"),
        # traits
        pytest.param(event("identify", traits={"country": "XX"}), "traits.country", id="country"),
        pytest.param(event("identify", traits={"country": "DEU"}), "traits.country", id="alpha3"),
        pytest.param(event("identify", traits={"email": "ada"}), "traits.email", id="email-no-at"),
        pytest.param(
            event("identify", traits={"email": "a@" + "b" * 319}), "traits.email", id="email-long"
        ),
        pytest.param(event("identify", traits={"name": "n" * 257}), "traits.name", id="name-long"),
        pytest.param(
            event("identify", traits={"company": "a\x00"}), "traits.company", id="company-nul"
        ),
        pytest.param(event("identify", traits={"email": None}), "traits.email", id="known-null"),
        pytest.param(event("identify", traits={"plan": None}), "traits.plan", id="trait-null"),
        pytest.param(event("identify", traits={"plan": {"a": 1}}), "traits.plan", id="nested"),
        pytest.param(event("identify", traits={"tags": ["a"]}), "traits.tags", id="trait-list"),
        pytest.param(event("identify", traits={"n": INT64_MAX + 1}), "traits.n", id="trait-int64"),
        pytest.param(event("identify", traits={"r": math.nan}), "traits.r", id="trait-nan"),
        pytest.param(event("identify", traits={"bio": "b" * 1025}), "traits.bio", id="trait-long"),
        pytest.param(event("identify", traits={"bio": "\x00"}), "traits.bio", id="trait-nul"),
        pytest.param(
            event("identify", traits={"bio": "\udc00"}), "traits.bio", id="trait-surrogate"
        ),
        pytest.param(event("identify", traits={"k" * 65: 1}), "traits." + "k" * 65, id="key-long"),
        pytest.param(event("identify", traits={"": 1}), "traits.", id="key-empty"),
        pytest.param(
            event("identify", traits={f"t{i}": i for i in range(101)}), "traits", id="101-traits"
        ),
        pytest.param(event("identify", traits="pro"), "traits", id="traits-not-object"),
        # heartbeat usage
        pytest.param(event("heartbeat", usage={"sessions": -1}), "usage.sessions", id="negative"),
        pytest.param(event("heartbeat", usage={"m": -0.5}), "usage.m", id="usage-negative-float"),
        pytest.param(event("heartbeat", usage={"m": math.nan}), "usage.m", id="usage-nan"),
        pytest.param(event("heartbeat", usage={"m": math.inf}), "usage.m", id="usage-inf"),
        pytest.param(event("heartbeat", usage={"m": True}), "usage.m", id="usage-bool"),
        pytest.param(event("heartbeat", usage={"m": "3"}), "usage.m", id="usage-string"),
        pytest.param(event("heartbeat", usage={"m": None}), "usage.m", id="usage-null"),
        pytest.param(event("heartbeat", usage={"m": 2**63}), "usage.m", id="usage-int64"),
        pytest.param(event("heartbeat", usage={"m": {"n": 1}}), "usage.m", id="usage-nested"),
        pytest.param(
            event("heartbeat", usage={f"c{i}": i for i in range(65)}), "usage", id="65-counters"
        ),
        pytest.param(
            event("heartbeat", usage={"u" * 65: 1}), "usage." + "u" * 65 + ".[key]", id="usage-key"
        ),
        # properties
        pytest.param(
            event("uninstall", properties={"k": "x" * (MAX_PROPERTIES_BYTES - 7)}),
            "properties",
            id="properties-over-8kib",
        ),
        pytest.param(
            event("purchase", properties={"a": {"b": ["ok", "x\x00y"]}}),
            "properties.a.b.1",
            id="properties-nested-nul",
        ),
        pytest.param(event("uninstall", properties={"a\x00": 1}), "properties.a\x00", id="key-nul"),
        pytest.param(
            event("uninstall", properties={"s": "\ud800"}), "properties.s", id="surrogate-value"
        ),
        pytest.param(event("uninstall", properties={"n": 2**64}), "properties.n", id="big-int"),
        pytest.param(event("uninstall", properties={"x": [math.nan]}), "properties.x.0", id="nan"),
        pytest.param(event("uninstall", properties={"s": {1, 2}}), "properties.s", id="set"),
        pytest.param(event("uninstall", properties={"t": (1, 2)}), "properties.t", id="tuple"),
        pytest.param(event("uninstall", properties=[1]), "properties", id="properties-list"),
        # the whole event
        pytest.param(sized_identify(MAX_EVENT_BYTES + 1), "", id="event-over-32kib"),
    ],
)
def test_field_is_rejected(data: Any, field: str) -> None:
    assert field in rejected_fields(data)


def test_event_at_size_limit_is_accepted() -> None:
    assert EVENT_ADAPTER.validate_python(sized_identify(MAX_EVENT_BYTES)).type == "identify"


def test_size_limit_counts_compact_json_not_the_clients_formatting() -> None:
    pretty = orjson.dumps(sized_identify(MAX_EVENT_BYTES), option=orjson.OPT_INDENT_2)
    assert len(pretty) > MAX_EVENT_BYTES
    assert EVENT_ADAPTER.validate_json(pretty).type == "identify"


def test_identify_traits_keep_known_and_other_keys() -> None:
    traits = {"email": "a@b.example", "country": "de", "plan": "pro", "seats": 5, "r": 0.5}
    parsed = EVENT_ADAPTER.validate_python(event("identify", traits=traits | {"beta": True}))
    assert isinstance(parsed, Identify) and parsed.traits is not None
    assert parsed.traits.country == "DE"
    assert parsed.traits.model_extra == {"plan": "pro", "seats": 5, "r": 0.5, "beta": True}
    at_limit = EVENT_ADAPTER.validate_python(
        event("identify", traits={f"t{i}": i for i in range(100)})
    )
    assert isinstance(at_limit, Identify) and at_limit.traits is not None
    assert len(at_limit.traits.model_extra or {}) == 100


def test_json_number_amount_is_read_as_written() -> None:
    raw = orjson.dumps(event("purchase", amount=0)).replace(b'"amount":0', b'"amount":19.99')
    parsed = EVENT_ADAPTER.validate_json(raw)
    assert isinstance(parsed, Purchase)
    assert parsed.amount == Decimal("19.99")
    assert str(parsed.amount) == "19.99"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("1e2", "100"), ("19.990000", "19.99"), ("-0", "0"), ("0.000", "0"), (7, "7")],
)
def test_amount_has_one_spelling(written: Any, canonical: str) -> None:
    parsed = EVENT_ADAPTER.validate_python(event("purchase", amount=written))
    assert isinstance(parsed, Purchase)
    assert str(parsed.amount) == canonical


def test_json_number_amount_overflowing_float_is_rejected() -> None:
    raw = orjson.dumps(event("purchase", amount=0)).replace(b'"amount":0', b'"amount":1e400')
    with pytest.raises(ValidationError) as info:
        EVENT_ADAPTER.validate_json(raw)
    assert [e["field"] for e in error_list(info.value)] == ["amount"]


@pytest.mark.parametrize(
    ("amount", "micros"),
    [
        ("19.99", 19_990_000),
        ("0.000001", 1),
        ("0", 0),
        ("1E+2", 100_000_000),
        ("999999999999.999999", 999_999_999_999_999_999),
    ],
)
def test_micros_round_trip(amount: str, micros: int) -> None:
    assert to_micros(Decimal(amount)) == micros
    assert from_micros(micros) == Decimal(amount)
    assert micros <= INT64_MAX


@pytest.mark.parametrize(
    ("amount", "reason"),
    [("0.0000001", "fractional digits"), ("NaN", "not finite"), ("Infinity", "not finite")],
)
def test_to_micros_refuses_inexact(amount: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        to_micros(Decimal(amount))


def test_from_micros_is_exact_past_decimal_precision() -> None:
    assert str(from_micros(10**40 + 1)) == "1" + "0" * 34 + ".000001"
    assert str(from_micros(100_000_000)) == "100"


def test_models_are_frozen() -> None:
    parsed = EVENT_ADAPTER.validate_python(event("heartbeat"))
    assert isinstance(parsed, Heartbeat)
    with pytest.raises(ValidationError):
        parsed.installation_id = "other"  # type: ignore[misc]


def test_model_validate_of_a_member_names_fields_too() -> None:
    with pytest.raises(ValidationError) as info:
        Heartbeat.model_validate(event("heartbeat", usage={"s": -1}))
    assert [e["field"] for e in error_list(info.value)] == ["usage.s"]


def test_error_list_does_not_echo_input() -> None:
    huge = "x" * 10_000
    assert rejected(event("uninstall", type=huge)) == [
        {"field": "type", "message": "must be one of " + ", ".join(EVENT_TYPES)}
    ]


def test_error_list_truncates_client_keys_and_hides_patterns() -> None:
    errors = rejected(event("identify", event_id=" ", traits={"k" * 10_000: 1}))
    assert all(len(error["field"]) <= 201 for error in errors)
    assert {
        "field": "event_id",
        "message": "must contain a visible character and no control characters",
    } in errors
    assert not any("pattern" in error["message"] for error in errors)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (event("uninstall", properties={"a\ud800": 1}), "properties.a\\ud800"),
        (event("identify", traits={"a\ud800": 1}), "traits"),
        (event("heartbeat", usage={"a\udfff": 1}), "usage.a\ufffd\ufffd\ufffd.[key]"),
    ],
)
def test_error_list_can_be_sent_as_json(data: dict[str, Any], field: str) -> None:
    (error,) = rejected(data)  # lone surrogates in keys: pydantic or we escape them
    assert orjson.loads(orjson.dumps(error))["field"] == field


def test_error_list_explains_the_size_limit() -> None:
    (error,) = rejected(sized_identify(MAX_EVENT_BYTES + 1))
    assert error["field"] == ""
    assert str(MAX_EVENT_BYTES) in error["message"]


def test_json_schema_is_available_for_openapi() -> None:
    schema = EVENT_ADAPTER.json_schema()
    assert set(schema["discriminator"]["mapping"]) == set(EVENT_TYPES)


def test_event_alias_names_the_union() -> None:
    parsed: Event = EVENT_ADAPTER.validate_python(event("uninstall"))
    assert parsed.type == "uninstall"


@pytest.mark.parametrize(
    ("kind", "field"),
    [
        ("identify", "customer_id"),
        ("purchase", "customer_id"),
        ("purchase", "product_id"),
        ("install", "customer_id"),
        ("install", "installation_id"),
        ("install", "product_id"),
        ("heartbeat", "installation_id"),
        ("heartbeat", "product_id"),
        ("uninstall", "installation_id"),
    ],
)
def test_an_id_the_read_api_takes_in_its_path_has_no_slash(kind: str, field: str) -> None:
    # Found by attacking a running stack: "a/b" was accepted and could never be read back.
    assert rejected(event(kind, **{field: "a/b"})) == [
        {
            "field": field,
            "message": "must contain a visible character, no control characters and no '/' "
            "(the read API could not name it in a path)",
        }
    ]


def test_ids_that_no_path_names_may_hold_a_slash() -> None:
    for kind, field in [("purchase", "order_id"), ("install", "version"), ("identify", "event_id")]:
        EVENT_ADAPTER.validate_python(event(kind, **{field: "2026/11"}))

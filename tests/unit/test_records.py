"""Kafka record values: encoding, decoding, keys, topics and clock-skew correction."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from basewatch_shared.contract.events import EVENT_ADAPTER, Event, Heartbeat
from basewatch_shared.contract.limits import MAX_EVENT_BYTES
from basewatch_shared.contract.records import (
    Record,
    RecordEncoder,
    RecordError,
    corrected,
    decode_record,
    encode_record,
    record_key,
    topic_kind,
)
from basewatch_shared.contract.timestamps import EARLIEST, LATEST
from tests.support.examples import COMMON, FULL

RECEIVED = datetime(2024, 5, 1, 12, 0, 5, tzinfo=UTC)
KINDS = {
    "identify": "customers",
    "purchase": "customers",
    "install": "telemetry",
    "heartbeat": "telemetry",
    "uninstall": "telemetry",
}


def full(kind: str, **changes: Any) -> Event:
    """A validated event of the type with every optional field it has filled in."""
    return EVENT_ADAPTER.validate_python({"type": kind, **COMMON, **FULL[kind], **changes})


@pytest.mark.parametrize("kind", FULL)
def test_decode_of_encode_is_the_event(kind: str) -> None:
    event = full(kind)
    record = decode_record(encode_record(event, RECEIVED, "shop-app"))
    assert record == Record(event=event, received_at=RECEIVED, source="shop-app")


def test_value_is_flat_compact_json_with_exact_amount() -> None:
    value = encode_record(full("purchase"), RECEIVED, "shop-app")
    assert value == (
        b'{"amount":"19.99","currency":"EUR","customer_id":"cus-1","event_id":"evt-1",'
        b'"occurred_at":"2024-05-01T12:00:00Z","order_id":"ord-1","product_id":"editor",'
        b'"quantity":1,"received_at":"2024-05-01T12:00:05Z","sent_at":"2024-05-01T12:00:03Z",'
        b'"source":"shop-app","type":"purchase"}'
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"amount": "19.990", "quantity": 1},
        {"amount": "1999e-2", "currency": "EUR", "occurred_at": "2024-05-01T12:00:00.000Z"},
        {"sent_at": "2024-05-01T07:00:03-05:00", "properties": None},
    ],
)
def test_equal_events_encode_to_equal_bytes(changes: dict[str, Any]) -> None:
    received_elsewhere = RECEIVED.astimezone(timezone(timedelta(hours=-3)))
    assert encode_record(full("purchase", **changes), received_elsewhere, "shop-app") == (
        encode_record(full("purchase"), RECEIVED, "shop-app")
    )


def test_key_order_of_the_client_does_not_change_the_bytes() -> None:
    forward = full("identify")
    backward = EVENT_ADAPTER.validate_python(
        _reordered(forward.model_dump(mode="json", exclude_none=True))
    )
    assert backward == forward
    assert backward.model_dump_json() != forward.model_dump_json()  # the order did change
    assert encode_record(backward, RECEIVED, "a") == encode_record(forward, RECEIVED, "a")


def _reordered(value: Any) -> Any:
    """The same JSON value with the keys of every object in reverse order."""
    if isinstance(value, dict):
        return {key: _reordered(value[key]) for key in reversed(value)}
    return value


@pytest.mark.parametrize(
    ("received_at", "source"),
    [
        (datetime(2024, 5, 1, 12), "shop-app"),  # naive
        (datetime(1969, 12, 31, tzinfo=UTC), "shop-app"),
        (RECEIVED, ""),
        (RECEIVED, " "),
        (RECEIVED, "a\x00"),
    ],
)
def test_encode_refuses_what_decode_would_refuse(received_at: datetime, source: str) -> None:
    with pytest.raises(ValueError):
        encode_record(full("heartbeat"), received_at, source)
    with pytest.raises(ValueError):  # a request's encoder refuses before its first event
        RecordEncoder(received_at, source)


@given(
    received_at=st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
        ),
    ),
    source=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True),
)
def test_one_encoder_gives_every_event_of_a_request_its_envelope(
    received_at: datetime, source: str
) -> None:
    encoder = RecordEncoder(received_at, source)
    for kind in FULL:
        event = full(kind)
        record = decode_record(encoder.encode(event))
        assert record == Record(event=event, received_at=received_at, source=source)
        assert record.received_at.utcoffset() == timedelta(0)


def valid_value(**changes: Any) -> dict[str, Any]:
    """The JSON object of a valid heartbeat record, with keys replaced or removed (None)."""
    value: dict[str, Any] = orjson.loads(encode_record(full("heartbeat"), RECEIVED, "shop-app"))
    for key, replacement in changes.items():
        if replacement is None:
            del value[key]
        else:
            value[key] = replacement
    return value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'{"type": "heartbeat",', "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"heartbeat"', "not a JSON object"),
        (orjson.dumps(valid_value(received_at=None)), "received_at: Field required"),
        (orjson.dumps(valid_value(source=None)), "source: Field required"),
        (orjson.dumps(valid_value(received_at="2024-05-01T12:00:05")), "received_at: must be"),
        (orjson.dumps(valid_value(source="")), "source: String should have at least"),
        (orjson.dumps(valid_value(installation_id=None)), "installation_id: Field required"),
        (orjson.dumps(valid_value(usage={"sessions": -1})), "usage.sessions: must be"),
        (orjson.dumps(valid_value(type="signup")), "type: must be one of"),
        (orjson.dumps(valid_value(extra=1)), "extra: Extra inputs are not permitted"),
    ],
)
def test_decode_refuses_with_one_readable_error(value: bytes, reason: str) -> None:
    with pytest.raises(RecordError, match=reason):
        decode_record(value)


def test_record_error_is_a_value_error() -> None:
    assert issubclass(RecordError, ValueError)


def test_decode_accepts_an_event_that_grew_when_normalised() -> None:
    # Accepted at the limit; ".5Z" encodes as ".500000Z", so the record's event is larger.
    traits = {f"t{i:02d}": "x" * 1000 for i in range(32)} | {"pad": ""}
    data = {"type": "identify", "event_id": "e", "customer_id": "c", "traits": traits}
    data["occurred_at"] = "2024-05-01T12:00:00.5Z"
    traits["pad"] = "x" * (MAX_EVENT_BYTES - len(orjson.dumps(data)))
    assert len(orjson.dumps(data)) == MAX_EVENT_BYTES
    event = EVENT_ADAPTER.validate_python(data)
    assert len(orjson.dumps(event.model_dump(mode="json", exclude_none=True))) > MAX_EVENT_BYTES
    assert decode_record(encode_record(event, RECEIVED, "shop-app")).event == event


@pytest.mark.parametrize(("kind", "topic"), KINDS.items())
def test_topic_kind(kind: str, topic: str) -> None:
    assert topic_kind(full(kind)) == topic


@pytest.mark.parametrize("kind", FULL)
def test_record_key_is_the_entity_of_the_topic(kind: str) -> None:
    expected = b"cus-1" if KINDS[kind] == "customers" else b"inst-1"
    assert record_key(full(kind)) == expected


def test_record_key_is_utf8() -> None:
    assert record_key(full("heartbeat", installation_id="inst-é")) == "inst-é".encode()


def heartbeat(occurred_at: str, sent_at: str | None) -> Heartbeat:
    """A heartbeat with the given client timestamps."""
    event = full("heartbeat", occurred_at=occurred_at, sent_at=sent_at)
    assert isinstance(event, Heartbeat)
    return event


@pytest.mark.parametrize(
    ("occurred_at", "sent_at", "received_at", "expected"),
    [
        # client clock 10 s slow: received 12:00:20, sent 12:00:10 by its clock
        (
            "2024-05-01T12:00:00Z",
            "2024-05-01T12:00:10Z",
            datetime(2024, 5, 1, 12, 0, 20, tzinfo=UTC),
            datetime(2024, 5, 1, 12, 0, 10, tzinfo=UTC),
        ),
        # client clock an hour fast, offsets differ
        (
            "2024-05-01T14:00:00+02:00",
            "2024-05-01T13:30:00Z",
            datetime(2024, 5, 1, 7, 30, tzinfo=timezone(timedelta(hours=-5))),
            datetime(2024, 5, 1, 11, 0, tzinfo=UTC),
        ),
        # clamped to the contract's range instead of overflowing
        (
            "9999-12-31T00:00:00Z",
            "2024-05-01T00:00:00Z",
            datetime(2024, 5, 3, tzinfo=UTC),
            LATEST,
        ),
        (
            "1970-01-01T00:00:00Z",
            "9999-01-01T00:00:00Z",
            datetime(2024, 5, 1, tzinfo=UTC),
            EARLIEST,
        ),
    ],
)
def test_corrected_applies_the_clock_skew(
    occurred_at: str, sent_at: str, received_at: datetime, expected: datetime
) -> None:
    event = heartbeat(occurred_at, sent_at)
    fixed = corrected(event, received_at)
    assert fixed.occurred_at == expected
    assert fixed.sent_at == event.sent_at  # kept for audit
    assert fixed.model_copy(update={"occurred_at": event.occurred_at}) == event
    assert decode_record(encode_record(fixed, received_at, "shop-app")).event == fixed


def test_corrected_without_sent_at_is_the_same_event() -> None:
    event = heartbeat("2024-05-01T12:00:00Z", None)
    assert corrected(event, RECEIVED) is event


def test_corrected_needs_an_aware_received_at() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        corrected(heartbeat("2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"), datetime(2024, 5, 1))

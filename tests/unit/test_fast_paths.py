"""The contract's fast paths give what its models give, byte for byte and error for error.

Ingest's ``EventIntake`` reads client events with ``native.CLIENT_EVENT`` and encodes
them itself; the projector's ``decode_record`` reads records with ``recorded.read``.
The reference is the models: ``EVENT_ADAPTER``, ``corrected`` and ``encode_record`` for
what ingest writes, the full check for what the projector reads. Compared over the
contract tests' events, the fuzzers' events (schemathesis, positive and negative, from
ingest's own OpenAPI document), the projection tests' histories, generated spellings,
and records a broken producer might write.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schemathesis import GenerationMode

from basewatch_ingest.app import create_app
from basewatch_ingest.settings import Settings
from basewatch_shared.contract.errors import error_list
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.intake import EventIntake
from basewatch_shared.contract.recorded import read
from basewatch_shared.contract.records import (
    Record,
    RecordError,
    _checked,
    corrected,
    decode_record,
    decode_records,
    encode_record,
    record_key,
    topic_kind,
)
from tests.support import spellings, strategies
from tests.support.examples import COMMON, EVERYTHING, FULL, REQUIRED
from tests.support.profiles import scale
from tests.support.spellings import RECEIVED

SOURCE = "shop-app"
# CI's size; BASEWATCH_SOAK=1 draws ten times more (profiles.py).
EXAMPLES = settings(max_examples=scale(200), deadline=None, suppress_health_check=list(HealthCheck))
FUZZED_EXAMPLES = settings(EXAMPLES, max_examples=scale(60))


def by_the_models(raw: Any, received_at: datetime = RECEIVED) -> Any:
    """What ingest produced for ``raw`` before the fast path: a record, or the errors."""
    try:
        event = corrected(EVENT_ADAPTER.validate_python(raw), received_at)
    except ValidationError as exc:
        return error_list(exc)
    value = encode_record(event, received_at, SOURCE)
    return (event.type, topic_kind(event), record_key(event), value, event.occurred_at)


def by_intake(raw: Any, received_at: datetime = RECEIVED) -> Any:
    """What ingest produces for ``raw`` now."""
    try:
        return tuple(EventIntake(received_at, SOURCE).take(raw))
    except ValidationError as exc:
        return error_list(exc)


def assert_same(raw: Any, received_at: datetime = RECEIVED) -> None:
    """Intake gives the models' bytes, or their errors; what it reads fast, they accept."""
    expected = by_the_models(raw, received_at)
    assert by_intake(raw, received_at) == expected
    if EventIntake(received_at, SOURCE).fast(raw) is not None:
        assert isinstance(expected, tuple), raw


# --- the corpus -------------------------------------------------------------------
NOW = "2026-05-01T12:00:00Z"


def purchase(amount: Any, currency: str, **more: Any) -> dict[str, Any]:
    """A purchase with this amount and currency as the client wrote them."""
    ids = {"customer_id": "c", "order_id": "o", "product_id": "p"}
    fields = {"amount": amount, "currency": currency, **more}
    return {"type": "purchase", "event_id": "e", "occurred_at": NOW, **ids, **fields}


COMMON_SPELLINGS: list[dict[str, Any]] = (
    [{"type": kind, **COMMON, **fields} for kind, fields in FULL.items()]
    + [
        {"type": kind, "event_id": "e", "occurred_at": NOW, **REQUIRED[kind], **EVERYTHING[kind]}
        for kind in REQUIRED
    ]
    + [
        purchase(amount, currency)
        for amount, currency in [("49.90", "eur"), (20, "USD"), (19.99, "JPY"), ("0.000", "KWD")]
    ]
    + [
        {
            "type": "heartbeat",
            "event_id": "e",
            "installation_id": "i",
            "occurred_at": at,
            "sent_at": None,
            "customer_id": None,
            "usage": {"s": 1, "m": 2.5, "z": 0},
        }
        for at in [
            "2026-05-01T14:00:00.123456789+02:00",
            "2026-05-01t12:00:00z",
            "2026-05-01 12:00:00-00:00",
        ]
    ]
)
ODD_SPELLINGS: list[Any] = (
    [
        purchase(amount, "EUR", quantity=q)
        for amount, q in [("1e2", 1), ("1.5E1", 2.0), ("-0", 3), (1e15, 1), ("007", 1)]
    ]
    + [
        {"type": "uninstall", "event_id": "e", "installation_id": "i", "occurred_at": at}
        for at in [
            "9999-12-31T23:00:00-05:00",
            "1970-01-01T00:30:00+01:00",
            "2026-05-01T12:00:00." + "1" * 40 + "Z",
        ]
    ]
    + [
        {
            "type": "uninstall",
            "event_id": "e",
            "installation_id": "i",
            "occurred_at": NOW,
            "properties": p,
        }
        for p in [
            {"k": "x" * 8185},
            {"k": "x" * 8186},
            {"n": 2**63},
            {"f": [1.0, -0.0]},
            {"a\x00": 1},
        ]
    ]
    + [
        {"type": "identify", "event_id": "e", "customer_id": "c", "occurred_at": NOW, "traits": t}
        for t in [{"country": None}, {f"t{i}": i for i in range(101)}, {"k" * 65: 1}, {"x": 2**63}]
    ]
    + [
        {
            "type": "identify",
            "event_id": "e",
            "customer_id": "c",
            "occurred_at": NOW,
            "sent_at": "2026-05-01T12:00:00Z",
            "traits": {"bio": "x" * 1000},
            "properties": {f"p{i}": "y" * 900 for i in range(9)},
        },
        {
            "type": "heartbeat",
            "event_id": "e",
            "installation_id": "i",
            "occurred_at": NOW,
            "usage": {"c": 2**63 - 1, "d": 2**63},
        },
        {"events": []},
        [],
        "heartbeat",
        None,
        {"type": "signup"},
    ]
)


@pytest.mark.parametrize("raw", COMMON_SPELLINGS + ODD_SPELLINGS)
def test_intake_gives_the_models_bytes_or_their_errors(raw: Any) -> None:
    assert_same(raw)


@pytest.mark.parametrize("raw", COMMON_SPELLINGS)
def test_the_common_spellings_take_the_fast_path(raw: dict[str, Any]) -> None:
    assert EventIntake(RECEIVED, SOURCE).fast(raw) is not None


@pytest.mark.parametrize(
    "received_at",
    [
        RECEIVED,
        RECEIVED.astimezone(timezone(timedelta(hours=-3))),
        datetime(9999, 12, 31, tzinfo=UTC),
    ],
)
def test_the_clock_skew_is_corrected_alike(received_at: datetime) -> None:
    for raw in COMMON_SPELLINGS:
        assert_same(raw | {"sent_at": "2026-05-01T11:00:00+01:00"}, received_at)


@EXAMPLES
@given(spellings.client_events(), st.sampled_from([RECEIVED, datetime(1970, 1, 3, tzinfo=UTC)]))
def test_intake_on_generated_spellings(raw: dict[str, Any], received_at: datetime) -> None:
    assert_same(raw, received_at)


@EXAMPLES
@given(st.lists(spellings.client_events(), max_size=8), st.data())
def test_one_intake_takes_a_requests_events_alike(
    events: list[dict[str, Any]], data: st.DataObject
) -> None:
    # One intake per request: what it keeps from event to event (the shared sent_at and
    # its skew) must not leak into an event whose sent_at differs.
    sent = data.draw(st.lists(spellings.timestamps(), min_size=1, max_size=2))
    raws = [raw | {"sent_at": data.draw(st.sampled_from([*sent, None]))} for raw in events]
    intake = EventIntake(RECEIVED, SOURCE)
    for raw in raws:
        try:
            produced: Any = tuple(intake.take(raw))
        except ValidationError as exc:
            produced = error_list(exc)
        assert produced == by_the_models(raw)


@EXAMPLES
@given(st.data())
def test_intake_on_generated_near_misses(data: st.DataObject) -> None:
    assert_same(data.draw(spellings.mutated(data.draw(spellings.client_events()))))


@EXAMPLES
@given(
    strategies.identify
    | strategies.purchase
    | strategies.install
    | strategies.heartbeat
    | strategies.uninstall
)
def test_intake_on_the_projection_tests_events(body: dict[str, Any]) -> None:
    raw = body | {"event_id": "e", "occurred_at": "2026-11-01T00:00:00+00:00"}
    assert_same(raw)
    assert EventIntake(RECEIVED, SOURCE).fast(raw) is not None


FUZZED = schemathesis.openapi.from_dict(create_app(Settings.model_validate({})).openapi())


def events_of(body: Any) -> list[Any]:
    """The events of a request body the fuzzers made (one, or a batch)."""
    if isinstance(body, dict) and isinstance(body.get("events"), list):
        return list(body["events"])
    return [body]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_intake_on_the_fuzzers_events(mode: GenerationMode) -> None:
    operation = FUZZED["/v1/events"]["POST"]

    @FUZZED_EXAMPLES
    @given(operation.as_strategy(generation_mode=mode, media_type="application/json"))
    def check(case: schemathesis.Case[Any]) -> None:
        for raw in events_of(case.body):
            assert_same(raw)

    check()


# --- records -------------------------------------------------------------------------


def outcome(decode: Any, value: bytes) -> Any:
    """A decoded record with its event's class, or the reason it is refused."""
    try:
        record: Record = decode(value)
    except RecordError as exc:
        return str(exc)
    return record, type(record.event)


def assert_decoded_alike(value: bytes) -> None:
    """decode_record (fast, or the full check) decodes ``value`` as the full check does."""
    expected = outcome(lambda v: _checked(v, None), value)
    assert outcome(decode_record, value) == expected
    (batch,) = decode_records([value])
    assert (str(batch) if isinstance(batch, RecordError) else (batch, type(batch.event))) == (
        expected
    )


def recorded(raw: Any) -> bytes | None:
    """The record ingest writes for ``raw``; None if it refuses it."""
    produced = by_the_models(raw)
    return produced[3] if isinstance(produced, tuple) else None


@pytest.mark.parametrize("raw", COMMON_SPELLINGS + ODD_SPELLINGS)
def test_records_decode_as_the_full_check_decodes_them(raw: Any) -> None:
    value = recorded(raw)
    if value is not None:
        assert_decoded_alike(value)
        assert read(value)  # canonical: the fast path reads it


@EXAMPLES
@given(spellings.client_events())
def test_generated_records_take_the_fast_path(raw: dict[str, Any]) -> None:
    value = recorded(raw)
    if value is not None:
        assert_decoded_alike(value)
        if len(value) <= 8192:
            assert read(value)


@EXAMPLES
@given(st.data())
def test_what_the_fast_path_reads_the_full_check_reads_alike(data: st.DataObject) -> None:
    value = recorded(data.draw(spellings.client_events()))
    if value is not None:
        broken = data.draw(spellings.mutated(orjson.loads(value)))
        assert_decoded_alike(orjson.dumps(broken))


def test_a_batch_decodes_each_record_or_says_why_not() -> None:
    values = [v for raw in COMMON_SPELLINGS if (v := recorded(raw)) is not None]
    values.insert(2, b'{"type": "heartbeat"}')
    decoded = decode_records(values)
    assert isinstance(decoded[2], RecordError)
    assert decoded[:2] == [decode_record(v) for v in values[:2]]
    assert decoded[3:] == [decode_record(v) for v in values[3:]]
    assert decode_records(values[3:]) == decoded[3:]


HEARTBEAT_RECORD = (
    b'{"event_id":"e1","installation_id":"i1","occurred_at":"2026-11-01T03:00:00Z",'
    b'"received_at":"2026-11-04T00:00:00Z","source":"s","type":"heartbeat",'
)


@pytest.mark.parametrize(
    "value",
    [
        HEARTBEAT_RECORD + b'"usage":{"n":18446744073709551616}}',  # beyond int64: not a float
        HEARTBEAT_RECORD + b'"usage":{"n":-1e400}}',
        HEARTBEAT_RECORD + b'"usage":{"n":1.5e300}}',
        HEARTBEAT_RECORD + b'"properties":{"p":-9223372036854775809}}',
        HEARTBEAT_RECORD + b'"installation_id":"i2"}',  # a key twice
        HEARTBEAT_RECORD + b'"usage":{"n":1,"n":2.5}}',
        HEARTBEAT_RECORD + b'"source":"t"}',
        HEARTBEAT_RECORD + b'"type":"uninstall"}',
        HEARTBEAT_RECORD[:-1] + b"}\n",
        HEARTBEAT_RECORD + b'"version":"\\ud800"}',  # a lone surrogate
    ],
)
def test_records_read_from_bytes_decode_as_the_full_check_decodes_them(value: bytes) -> None:
    assert_decoded_alike(value)


def test_recorded_times_are_in_datetime_utc_itself() -> None:
    """The fast path gives ``datetime.UTC`` (compared in C), equal to the full check's."""
    value = HEARTBEAT_RECORD + b'"sent_at":"2026-11-01T02:59:59.000001Z"}'
    record = decode_record(value)
    times = (record.event.occurred_at, record.event.sent_at, record.received_at)
    assert all(t is not None and t.tzinfo is UTC for t in times)
    full = _checked(value, None)
    assert times == (full.event.occurred_at, full.event.sent_at, full.received_at)
    month_13 = HEARTBEAT_RECORD.replace(b"11-01T03", b"13-01T03").rstrip(b",") + b"}"
    with pytest.raises(RecordError, match="occurred_at"):
        decode_record(month_13)

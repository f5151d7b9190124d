"""From a body to records and rejections: shapes, validation, skew, encoding, refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from basewatch_ingest.intake import MAX_BATCH, Intake, Malformed, Reason, refusal, split_body, take
from basewatch_shared.contract.events import EVENT_ADAPTER, Event
from basewatch_shared.contract.intake import EventIntake
from basewatch_shared.contract.records import corrected, decode_record, encode_record
from basewatch_shared.problems import ProblemError
from basewatch_shared.topics import Topics
from tests.support.examples import FULL

RECEIVED = datetime(2026, 5, 1, 12, 0, 0, 250_000, tzinfo=UTC)
TOPICS = Topics("t.")
EVENTS: dict[str, dict[str, Any]] = {
    "identify": {
        "event_id": "id-1",
        "type": "identify",
        "occurred_at": "2026-05-01T14:00:00.123456+02:00",
        "customer_id": "cus-ü",
        "traits": {"email": "a@b.example", "country": "de", "seats": 3, "ratio": 1e-7, "big": 1e16},
        "properties": {"utm": {"tags": ["a", None, 1.5, True]}, "émoji": "🙂"},
    },
    "purchase": {
        "event_id": "pu-1",
        "type": "purchase",
        "occurred_at": "2026-05-01T11:59:00Z",
        "sent_at": "2026-05-01T12:10:00.5Z",
        "customer_id": "cus-1",
        "order_id": "ord-1",
        "product_id": "editor",
        "amount": 19.99,
        "currency": "eur",
        "quantity": 3,
    },
    "install": {
        "event_id": "in-1",
        "type": "install",
        "occurred_at": "2026-05-01T11:00:00Z",
        **FULL["install"],
    },
    "heartbeat": {
        "event_id": "hb-1",
        "type": "heartbeat",
        "occurred_at": "2026-05-01T11:30:00Z",
        "installation_id": "inst-1",
        "usage": {"sessions": 3, "active_minutes": 12.5},
    },
    "uninstall": {
        "event_id": "un-1",
        "type": "uninstall",
        "occurred_at": "2026-05-01T11:45:00Z",
        "installation_id": "inst-2",
    },
}


def taken(raw: list[Any], max_future: timedelta = timedelta(hours=1)) -> Intake:
    return take(raw, topics=TOPICS, source="app", received_at=RECEIVED, max_future=max_future)


def validated(raw: dict[str, Any]) -> Event:
    return corrected(EVENT_ADAPTER.validate_python(raw), RECEIVED)


# --- body shapes ------------------------------------------------------------


def test_one_event_a_batch_and_ndjson_give_the_raw_events() -> None:
    one = EVENTS["heartbeat"]
    assert split_body(orjson.dumps(one), ndjson=False) == [one]
    batch = list(EVENTS.values())
    assert split_body(orjson.dumps({"events": batch}), ndjson=False) == batch
    lines = b"\r\n".join(orjson.dumps(e) for e in batch) + b"\n\n"
    assert split_body(lines, ndjson=True) == batch


def test_an_event_with_an_events_field_is_an_event_not_a_batch() -> None:
    odd = EVENTS["heartbeat"] | {"events": []}
    assert split_body(orjson.dumps(odd), ndjson=False) == [odd]


def test_malformed_ndjson_lines_stay_in_place() -> None:
    raw = split_body(b'{"a": 1}\n{oops\n[]\n', ndjson=True)
    assert raw[0] == {"a": 1}
    assert isinstance(raw[1], Malformed)
    assert raw[2] == []


@pytest.mark.parametrize(
    ("body", "ndjson", "status"),
    [
        (b"{", False, 400),
        (b"[]", False, 422),
        (b'"event"', False, 422),
        (b'{"events": []}', False, 422),
        (b'{"events": 1}', False, 422),
        (b'{"events": [], "x": 1}', False, 422),
        (b"\n \n", True, 422),
        (orjson.dumps({"events": [{}] * (MAX_BATCH + 1)}), False, 413),
        (b"{}\n" * (MAX_BATCH + 1), True, 413),
    ],
)
def test_wrong_shapes_are_refused_whole(body: bytes, ndjson: bool, status: int) -> None:
    with pytest.raises(ProblemError) as caught:
        split_body(body, ndjson=ndjson)
    assert caught.value.status == status


def test_a_full_batch_is_accepted() -> None:
    assert len(split_body(orjson.dumps({"events": [{}] * MAX_BATCH}), ndjson=False)) == MAX_BATCH


# --- validation, skew, routing ---------------------------------------------


def test_each_event_goes_to_its_topic_with_its_key_and_the_contracts_bytes() -> None:
    intake = taken(list(EVENTS.values()))
    assert intake.rejected == []
    assert [(r.topic, r.key) for r in intake.records] == [
        ("t.customers.v1", b"cus-\xc3\xbc"),
        ("t.customers.v1", b"cus-1"),
        ("t.telemetry.v1", b"inst-1"),
        ("t.telemetry.v1", b"inst-1"),
        ("t.telemetry.v1", b"inst-2"),
    ]
    for raw, record in zip(EVENTS.values(), intake.records, strict=True):
        assert record.value == encode_record(validated(raw), RECEIVED, "app")
    assert dict(intake.accepted_types) == dict.fromkeys(EVENTS, 1)


def test_skew_is_corrected_once_from_sent_at() -> None:
    [record] = taken([EVENTS["purchase"]]).records
    decoded = decode_record(record.value)
    # Sent 10 min 0.5 s after it happened by the client's clock: that long before receipt.
    assert decoded.event.occurred_at == RECEIVED - timedelta(minutes=11, seconds=0.5)
    assert decoded.received_at == RECEIVED
    assert decoded.source == "app"


def test_events_too_far_in_the_future_are_rejected_after_skew_correction() -> None:
    soon = (RECEIVED + timedelta(minutes=59)).isoformat()
    late = (RECEIVED + timedelta(minutes=61)).isoformat()
    fast_clock = (RECEIVED + timedelta(hours=5)).isoformat()  # client clock 5 h ahead
    intake = taken(
        [
            EVENTS["uninstall"] | {"occurred_at": soon},
            EVENTS["uninstall"] | {"event_id": "late", "occurred_at": late},
            EVENTS["uninstall"] | {"occurred_at": fast_clock, "sent_at": fast_clock},
        ]
    )
    assert len(intake.records) == 2
    [rejected] = intake.rejected
    assert (rejected["index"], rejected["event_id"]) == (1, "late")
    assert rejected["errors"][0]["field"] == "occurred_at"
    assert dict(intake.rejected_reasons) == {("uninstall", Reason.FUTURE): 1}


def test_records_keep_the_request_order_whichever_path_took_each_event() -> None:
    # Events are read, sealed and encoded pass by pass; the models measure the large ones.
    large = {"properties": {f"p{i}": "y" * 900 for i in range(9)}}
    raw: list[Any] = [
        EVENTS["heartbeat"] | {"installation_id": "a"},
        EVENTS["heartbeat"] | {"installation_id": "b", "usage": "none"},
        Malformed("the line is not valid JSON"),
        EVENTS["uninstall"] | {"installation_id": "c"} | large,
        EVENTS["uninstall"] | {"installation_id": "d"},
        EVENTS["uninstall"] | {"installation_id": "e"} | large,
    ]
    assert EventIntake(RECEIVED, "app").fast(raw[3]) is None  # left to the models
    intake = taken(raw)
    assert [r.key for r in intake.records] == [b"a", b"c", b"d", b"e"]
    assert [r["index"] for r in intake.rejected] == [1, 2]


def test_rejections_name_index_id_fields_and_reason() -> None:
    raw: list[Any] = [
        EVENTS["purchase"] | {"currency": "euro"},
        EVENTS["heartbeat"] | {"event_id": 7},
        EVENTS["uninstall"] | {"event_id": "x" * 200},
        {"type": "refund", "event_id": "r"},
        Malformed("the line is not valid JSON"),
        EVENTS["identify"] | {"properties": {"blob": "x" * 40_000}},
        "a string",
    ]
    intake = taken(raw)
    assert intake.records == []
    assert [(r["index"], r["event_id"]) for r in intake.rejected] == [
        (0, "pu-1"),
        (1, None),  # not a string: not echoed
        (2, None),  # longer than an event_id may be: not echoed
        (3, "r"),
        (4, None),
        (5, "id-1"),
        (6, None),
    ]
    assert intake.rejected[0]["errors"] == [
        {"field": "currency", "message": "must be an ISO 4217 currency code, like USD"}
    ]
    assert dict(intake.rejected_reasons) == {
        ("purchase", Reason.INVALID): 1,
        ("heartbeat", Reason.INVALID): 1,
        ("uninstall", Reason.INVALID): 1,
        ("unknown", Reason.INVALID): 2,  # an unknown type is never a label value
        ("unknown", Reason.MALFORMED): 1,
        ("identify", Reason.TOO_LARGE): 1,
    }


@pytest.mark.parametrize(
    ("reasons", "status"),
    [
        ([Reason.MALFORMED], 400),
        ([Reason.MALFORMED, Reason.MALFORMED], 400),
        ([Reason.TOO_LARGE], 413),
        ([Reason.INVALID], 422),
        ([Reason.FUTURE], 422),
        ([Reason.MALFORMED, Reason.INVALID], 422),
        ([Reason.TOO_LARGE, Reason.INVALID], 422),
    ],
)
def test_a_request_with_nothing_acceptable_gets_the_status_of_its_reasons(
    reasons: list[Reason], status: int
) -> None:
    intake = Intake()
    for index, reason in enumerate(reasons):
        intake.reject(index, {"event_id": f"e{index}"}, [{"field": "f", "message": "m"}], reason)
    problem = refusal(intake)
    assert problem.status == status
    assert problem.extra["rejected"] == intake.rejected
    assert problem.detail is not None and "event 0: f: m" in problem.detail


def test_the_refusal_detail_stays_short() -> None:
    intake = Intake()
    errors = [{"field": f"f{i}", "message": "m" * 300} for i in range(50)]
    for index in range(1000):
        intake.reject(index, {}, errors, Reason.INVALID)
    detail = refusal(intake).detail
    assert detail is not None and len(detail) < 4000
    assert detail.endswith("and 997 more")

"""Personal fields sealed per customer: both intake paths seal, decoding opens or withholds."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from basewatch_ingest.intake import take
from basewatch_shared.contract import records
from basewatch_shared.contract.events import Identify
from basewatch_shared.contract.intake import EventIntake
from basewatch_shared.contract.records import RecordError, decode_record, decode_records
from basewatch_shared.contract.sealed import KeyMissing
from basewatch_shared.keyring.master import Master, WrapError, new_master_key, parse_master_key
from basewatch_shared.keyring.ring import ERASED, ERASED_VALUE, KeyNotKnown, KeyRing, record_key
from basewatch_shared.topics import Topics

RECEIVED = datetime(2026, 11, 22, 10, 0, 5, tzinfo=UTC)
EMAIL = "ada@example.com"
# What the fast path leaves to the models, which measure it: an event of over 8 KiB.
LARGE: dict[str, Any] = {"properties": {"utm": "ads"} | {f"p{i}": "y" * 900 for i in range(9)}}


def identify(customer_id: str = "c1", **extra: Any) -> dict[str, Any]:
    return {
        "event_id": "e1",
        "type": "identify",
        "occurred_at": "2026-11-22T10:00:00Z",
        "customer_id": customer_id,
        "traits": {"email": EMAIL, "country": "de"},
        "properties": {"utm": "ads"},
        **extra,
    }


def ring_with(*customers: str) -> tuple[KeyRing, Master]:
    master = Master(parse_master_key(new_master_key()))
    ring = KeyRing(master)
    for customer in customers:
        name = record_key(customer, "k1")
        ring.apply(name, master.wrap(os.urandom(32), name))
    return ring, master


@pytest.mark.parametrize("path", ["fast", "models"])
def test_both_paths_seal_what_only_the_key_opens(path: str) -> None:
    ring, _ = ring_with("c1")
    intake = EventIntake(RECEIVED, "app", keys=ring)
    raw = identify() if path == "fast" else identify(**LARGE)
    assert (intake.fast(raw) is None) == (path == "models")
    value = intake.take(raw).value
    assert EMAIL.encode() not in value and b"utm" not in value
    record = decode_record(value, ring)
    assert not record.withheld
    assert isinstance(record.event, Identify)
    assert record.event.traits is not None and record.event.traits.email == EMAIL
    assert record.event.properties == raw["properties"]
    assert decode_records([value], ring) == [record]
    clear = EventIntake(RECEIVED, "app").take(raw).value
    assert decode_record(clear) == record


def test_an_erased_customers_records_are_read_without_personal_fields() -> None:
    ring, _ = ring_with("c1")
    value = EventIntake(RECEIVED, "app", keys=ring).take(identify()).value
    ring.apply(record_key("c1", ERASED), ERASED_VALUE)
    record = decode_record(value, ring)
    assert record.withheld and isinstance(record.event, Identify)
    assert record.event.traits is None and record.event.properties is None
    assert record.event.customer_id == "c1"
    # and what ingest writes after the erasure holds no personal field at all
    after = EventIntake(RECEIVED, "app", keys=ring).take(identify()).value
    assert b"sealed" not in after and EMAIL.encode() not in after


def test_a_key_destroyed_by_its_tombstone_opens_nothing_and_a_new_ring_never_had_it() -> None:
    ring, master = ring_with("c1")
    value = EventIntake(RECEIVED, "app", keys=ring).take(identify()).value
    ring.apply(record_key("c1", "k1"), None)
    with pytest.raises(KeyNotKnown):  # not erased: the reader may be behind
        decode_record(value, ring)
    fresh = KeyRing(master)
    fresh.apply(record_key("c1", ERASED), ERASED_VALUE)
    assert decode_record(value, fresh).withheld


def test_an_altered_ciphertext_is_a_record_error_naming_no_value() -> None:
    ring, _ = ring_with("c1")
    value = EventIntake(RECEIVED, "app", keys=ring).take(identify()).value
    altered = value.replace(b'"sealed":"k1:', b'"sealed":"k1:AAAA')
    with pytest.raises(RecordError, match="does not open") as caught:
        decode_record(altered, ring)
    assert EMAIL not in str(caught.value)
    moved = value.replace(b'"event_id":"e1"', b'"event_id":"e2"')  # bound to its event
    assert isinstance(decode_records([moved], ring)[0], RecordError)


def test_a_customer_without_a_key_is_not_written_in_clear() -> None:
    ring, _ = ring_with()
    with pytest.raises(KeyMissing) as caught:
        EventIntake(RECEIVED, "app", keys=ring).take(identify())
    assert caught.value.customer_id == "c1"


def test_a_request_leaves_out_the_events_of_customers_without_a_key_and_names_them() -> None:
    ring, _ = ring_with("c1")
    raw = [
        identify("c2"),
        identify("c1"),
        identify("c3", **LARGE),
    ]
    raw += [
        {
            "event_id": "p1",
            "type": "purchase",
            "occurred_at": "2026-11-22T10:00:00Z",
            "customer_id": "c2",
            "order_id": "o1",
            "product_id": "p",
            "amount": "1",
            "currency": "EUR",
        }
    ]
    options: dict[str, Any] = {"topics": Topics(), "source": "app", "received_at": RECEIVED}
    intake = take(raw, max_future=timedelta(hours=1), keys=ring, **options)
    # A small and a large event (the models measure it) both name their customer, and
    # nothing of theirs is written; an event without personal fields is taken anyway.
    assert intake.unkeyed == {"c2", "c3"}
    assert [record.key for record in intake.records] == [b"c1", b"c2"]
    assert intake.accepted_types == {"identify": 1, "purchase": 1}
    assert not intake.rejected
    assert all(EMAIL.encode() not in record.value for record in intake.records)


def test_events_naming_no_customer_and_without_personal_fields_are_left_alone() -> None:
    ring, _ = ring_with()
    heartbeat = {
        "event_id": "h1",
        "type": "heartbeat",
        "occurred_at": "2026-11-22T10:00:00Z",
        "installation_id": "i1",
    }
    value = EventIntake(RECEIVED, "app", keys=ring).take(heartbeat).value
    assert decode_record(value, ring).event.event_id == "h1"


def test_a_key_wrapped_by_another_master_key_does_not_open() -> None:
    ring, _ = ring_with()
    other = Master(parse_master_key(new_master_key()))
    name = record_key("c1", "k1")
    with pytest.raises(WrapError):
        ring.apply(name, other.wrap(os.urandom(32), name))
    assert "hidden" in repr(other)
    with pytest.raises(ValueError, match="32 bytes"):
        parse_master_key("c2hvcnQ=")


def test_sealed_records_take_the_one_fast_path_open_or_withheld(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ring, _ = ring_with("c1")
    value = EventIntake(RECEIVED, "app", keys=ring).take(identify()).value

    def full_check(value: bytes, keys: object) -> None:
        raise AssertionError("a sealed record ingest wrote left to the full check")

    monkeypatch.setattr(records, "_checked", full_check)
    event = decode_record(value, ring).event
    assert isinstance(event, Identify) and event.traits is not None
    assert event.traits.email == EMAIL
    ring.apply(record_key("c1", ERASED), ERASED_VALUE)
    assert decode_record(value, ring).withheld

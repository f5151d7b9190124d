"""A consumed record and what decoding made of it: an event, or a reason to dead-letter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from basewatch_shared.contract.erasure import Erasure, decode_erasure, is_erasure
from basewatch_shared.contract.events import Heartbeat, Install, Uninstall
from basewatch_shared.contract.records import Record, RecordError, decode_record
from basewatch_shared.contract.sealed import DataKeys
from basewatch_shared.keyring.reader import KeysReader
from basewatch_shared.keyring.ring import KeyNotKnown, KeyRing

KafkaRecord: TypeAlias = ConsumerRecord  # [bytes, bytes]; aiokafka ships no types


@dataclass(frozen=True, slots=True)
class Item:
    """A consumed record, what decoding made of it, and its partition's epoch at fetch."""

    raw: KafkaRecord
    decoded: Record | None
    error: str | None
    epoch: int = 0
    erasure: Erasure | None = None  # an erasure record (docs/erasure.md), not an event


def decode(raw: KafkaRecord, epoch: int = 0, keys: DataKeys | None = None) -> Item:
    """Decode a Kafka record; a failure is data for the dead-letter topic, not a crash.

    KeyNotKnown when its personal fields are sealed with a key ``keys`` has not read yet.
    """
    if raw.headers and is_erasure(raw.headers):
        return _erasure(raw, epoch)
    try:
        return Item(raw, decode_record(raw.value or b"", keys), None, epoch)
    except RecordError as exc:
        return Item(raw, None, str(exc), epoch)


async def decode_fetched(
    fetched: Sequence[tuple[KafkaRecord, int]], keys: KeysReader | None
) -> list[Item]:
    """Decode fetched records with the customers' keys (docs/erasure.md).

    Ingest writes a key before any record sealed with it, so a key not read yet is read
    once the keys topic is caught up; a key still unknown then was never on the log
    (or is gone), and the record is applied without its personal fields.
    """
    ring = keys.ring if keys is not None else None
    try:
        return [decode(raw, epoch, ring) for raw, epoch in fetched]
    except KeyNotKnown:
        assert keys is not None
        await keys.caught_up()
    lenient = _Lenient(keys.ring)
    return [decode(raw, epoch, lenient) for raw, epoch in fetched]


class _Lenient:
    """A ring that answers "gone" for a key it does not know."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    def cipher(self, customer_id: str, kid: str) -> AESGCM | None:
        try:
            return self._ring.cipher(customer_id, kid)
        except KeyNotKnown:
            return None


def _erasure(raw: KafkaRecord, epoch: int) -> Item:
    try:
        return Item(raw, None, None, epoch, decode_erasure(raw.value or b""))
    except ValueError as exc:
        return Item(raw, None, str(exc), epoch)


def telemetry_partitions(items: Sequence[Item]) -> dict[str, int]:
    """installation_id -> the partition its events arrive on."""
    return {
        item.decoded.event.installation_id: item.raw.partition
        for item in items
        if item.decoded is not None
        and isinstance(item.decoded.event, Install | Heartbeat | Uninstall)
    }

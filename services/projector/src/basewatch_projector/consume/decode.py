"""A consumed record and what decoding made of it: an event, or a reason to dead-letter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from aiokafka.structs import ConsumerRecord

from basewatch_shared.contract.erasure import Erasure, decode_erasure, is_erasure
from basewatch_shared.contract.events import Heartbeat, Install, Uninstall
from basewatch_shared.contract.records import Record, RecordError, decode_record

KafkaRecord: TypeAlias = ConsumerRecord  # [bytes, bytes]; aiokafka ships no types


@dataclass(frozen=True, slots=True)
class Item:
    """A consumed record, what decoding made of it, and its partition's epoch at fetch."""

    raw: KafkaRecord
    decoded: Record | None
    error: str | None
    epoch: int = 0
    erasure: Erasure | None = None  # an erasure record (docs/erasure.md), not an event


def decode(raw: KafkaRecord, epoch: int = 0) -> Item:
    """Decode a Kafka record; a failure is data for the dead-letter topic, not a crash."""
    if raw.headers and is_erasure(raw.headers):
        return _erasure(raw, epoch)
    try:
        return Item(raw, decode_record(raw.value or b""), None, epoch)
    except RecordError as exc:
        return Item(raw, None, str(exc), epoch)


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

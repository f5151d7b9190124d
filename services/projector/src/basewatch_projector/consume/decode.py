"""A consumed record and what decoding made of it: an event, or a reason to dead-letter."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from aiokafka.structs import ConsumerRecord

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


def decode(raw: KafkaRecord, epoch: int = 0) -> Item:
    """Decode a Kafka record; a failure is data for the dead-letter topic, not a crash."""
    try:
        return Item(raw, decode_record(raw.value or b""), None, epoch)
    except RecordError as exc:
        return Item(raw, None, str(exc), epoch)


def telemetry_partitions(items: Sequence[Item]) -> dict[str, int]:
    """installation_id -> the partition its events arrive on."""
    return {
        item.decoded.event.installation_id: item.raw.partition
        for item in items
        if item.decoded is not None
        and isinstance(item.decoded.event, Install | Heartbeat | Uninstall)
    }

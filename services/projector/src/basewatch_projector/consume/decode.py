"""A consumed record and what decoding made of it: an event, or a reason to dead-letter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiokafka.structs import ConsumerRecord

from basewatch_projector.projection.offsets import Moves
from basewatch_projector.rules.clock import PartitionPosition
from basewatch_shared.contract.events import Heartbeat, Install, Uninstall
from basewatch_shared.contract.records import Record, RecordError, decode_records

KafkaRecord: TypeAlias = ConsumerRecord  # [bytes, bytes]; aiokafka ships no types


@dataclass(frozen=True, slots=True)
class Item:
    """A consumed record, what decoding made of it, and its partition's epoch at fetch."""

    raw: KafkaRecord
    decoded: Record | None
    error: str | None
    epoch: int = 0


def decode_all(raws: Iterable[tuple[KafkaRecord, int]]) -> list[Item]:
    """Decode fetched (record, epoch) pairs with one call of the shared trusted decoder.
    A record that fails is data for the dead-letter topic (its reason names the field),
    not a crash."""
    pairs = list(raws)
    decoded = decode_records([raw.value or b"" for raw, _ in pairs])
    return [
        Item(raw, None, str(result), epoch)
        if isinstance(result, RecordError)
        else Item(raw, result, None, epoch)
        for (raw, epoch), result in zip(pairs, decoded, strict=True)
    ]


def telemetry_partitions(items: Sequence[Item]) -> dict[str, int]:
    """installation_id -> the partition its events arrive on."""
    return {
        item.decoded.event.installation_id: item.raw.partition
        for item in items
        if item.decoded is not None
        and isinstance(item.decoded.event, Install | Heartbeat | Uninstall)
    }


def offset_moves(items: Sequence[Item], positions: Mapping[Any, PartitionPosition]) -> Moves:
    """Per partition: (the offset the database should hold now, the new one)."""
    moves: Moves = {}
    for item in items:
        tp = (item.raw.topic, item.raw.partition)
        expected = positions[tp].committed
        moves[tp] = (expected, max(moves.get(tp, (expected, -1))[1], item.raw.offset + 1))
    return moves

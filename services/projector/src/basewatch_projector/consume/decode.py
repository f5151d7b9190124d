"""A consumed record and what decoding made of it: an event, or a reason to dead-letter."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from aiokafka.structs import ConsumerRecord
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from basewatch_projector.projection.offsets import Moves
from basewatch_projector.rules.clock import PartitionPosition
from basewatch_shared.contract.erasure import Erasure, decode_erasure, is_erasure
from basewatch_shared.contract.events import Heartbeat, Install, Uninstall
from basewatch_shared.contract.records import Record, RecordError, decode_records
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


def decode_all(raws: Iterable[tuple[KafkaRecord, int]], keys: DataKeys | None = None) -> list[Item]:
    """Decode fetched (record, epoch) pairs with one call of the shared trusted decoder.
    A record that fails is data for the dead-letter topic (its reason names the field),
    not a crash. Sealed personal fields open with ``keys`` (KeyNotKnown: a key not read
    yet); erasure records are told apart by their header."""
    pairs = list(raws)
    if any(raw.headers and is_erasure(raw.headers) for raw, _ in pairs):
        return _with_erasures(pairs, keys)
    decoded = decode_records([raw.value or b"" for raw, _ in pairs], keys)
    return [
        Item(raw, None, str(result), epoch)
        if isinstance(result, RecordError)
        else Item(raw, result, None, epoch)
        for (raw, epoch), result in zip(pairs, decoded, strict=True)
    ]


def _with_erasures(pairs: list[tuple[KafkaRecord, int]], keys: DataKeys | None) -> list[Item]:
    """decode_all of a fetch that holds erasure records: the events among them in one call."""
    events = [(raw, epoch) for raw, epoch in pairs if not (raw.headers and is_erasure(raw.headers))]
    decoded = iter(decode_all(events, keys))
    return [
        _erasure(raw, epoch) if raw.headers and is_erasure(raw.headers) else next(decoded)
        for raw, epoch in pairs
    ]


def _erasure(raw: KafkaRecord, epoch: int) -> Item:
    try:
        return Item(raw, None, None, epoch, decode_erasure(raw.value or b""))
    except ValueError as exc:
        return Item(raw, None, str(exc), epoch)


async def decode_fetched(
    fetched: Sequence[tuple[KafkaRecord, int]], keys: KeysReader | None
) -> list[Item]:
    """decode_all with the customers' keys (docs/erasure.md).

    Ingest writes a key before any record sealed with it, so a key not read yet is read
    once the keys topic is caught up; a key still unknown then was never on the log (or
    is gone), and the record is applied without its personal fields.
    """
    if keys is None:
        return decode_all(fetched)
    try:
        return decode_all(fetched, keys.ring)
    except KeyNotKnown:
        await keys.caught_up()
    return decode_all(fetched, _Lenient(keys.ring))


class _Lenient:
    """A ring that answers "gone" for a key it does not know."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    def cipher(self, customer_id: str, kid: str) -> AESGCM | None:
        try:
            return self._ring.cipher(customer_id, kid)
        except KeyNotKnown:
            return None


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

"""Records held back at the pending history boundary, so a sample sees the tables as
they were at the boundary.

Each fetched batch is cut per partition at the first record received at or after the
pending boundary B. The records from there on are held in memory and the partition is
paused, so nothing received at or after B is applied before B is sampled; once the
recorder has sampled B, the held records are released up to the next boundary. Held
records are never fetched twice: a replay crosses a boundary without a round trip to
the broker.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from aiokafka import TopicPartition

from basewatch_projector.consume.decode import Item
from basewatch_projector.consume.pausing import Pausing, Reason


class Holding:
    """Per held partition, its records received at or after the pending boundary."""

    def __init__(self, pausing: Pausing) -> None:
        self._pausing = pausing
        self._held: dict[TopicPartition, list[Item]] = {}

    def admit(
        self, items: Sequence[Item], epochs: Mapping[TopicPartition, int], boundary: datetime | None
    ) -> list[Item]:
        """The records to apply now: the held ones and ``items``, per partition those
        received before ``boundary`` (None: no boundary yet, hold every record with a
        time). The rest is held and its partition paused."""
        was_held = set(self._held)
        queue = [i for held in self._held.values() for i in held] + list(items)
        held: dict[TopicPartition, list[Item]] = defaultdict(list)
        kept: list[Item] = []
        for item in queue:
            tp = TopicPartition(item.raw.topic, item.raw.partition)
            if item.epoch != epochs.get(tp):
                if tp not in was_held:
                    kept.append(item)  # a stale fetch: the consume loop drops it
                continue  # held before the partition was repositioned: fetched again
            if tp in held or _at_or_after(item, boundary):
                held[tp].append(item)
            else:
                kept.append(item)
        self._held = dict(held)
        self._pausing.hold(Reason.HOLDING, self._held.keys() - was_held)
        self._pausing.release(Reason.HOLDING, was_held - self._held.keys())
        return kept

    def ready(self, boundary: datetime | None) -> bool:
        """True when held records belong before ``boundary``: admit them now."""
        return boundary is not None and any(t < boundary for t in self.first_held().values())

    def first_held(self) -> dict[TopicPartition, datetime]:
        """Per held partition, the receive time of its first held record."""
        return {tp: _received(items[0]) for tp, items in self._held.items()}

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions revoked: the new owner fetches them from the database's offset."""
        for tp in partitions:
            self._held.pop(tp, None)


def _at_or_after(item: Item, boundary: datetime | None) -> bool:
    received = item.decoded.received_at if item.decoded is not None else None
    return received is not None and (boundary is None or received >= boundary)


def _received(item: Item) -> datetime:
    assert item.decoded is not None  # a partition is held at a record with a time
    return item.decoded.received_at

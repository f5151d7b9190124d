"""Records held back where a partition's time must stop: at the pending history
boundary, so a sample sees the tables as they were at the boundary, and at a telemetry
partition's next silence deadline, so the sweep applies it first (``churn/cut.py``).

Each fetched batch is cut per partition at the first record the cut holds (received at
or after the pending boundary B, or moving the partition's clock to its deadline). The
records from there on are held in memory and the partition is paused; once the recorder
has sampled B, or the sweep has applied the deadline, the held records are released up
to the next cut. Held records are never fetched twice: a replay crosses a boundary
without a round trip to the broker.

A batch holds at most ``limit`` records (``BASEWATCH_BATCH_MAX_RECORDS``): what the cut
lets through beyond it stays held, at the front of its partition, for the next batch.
Without that limit the records of every partition held at the first boundary of a
catch-up were released as one batch (58,811 records in ``bench.projector`` at 300,000
events, for a limit of 5,000), and that batch set the projector's peak memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from aiokafka import TopicPartition

from basewatch_projector.churn.cut import Cut
from basewatch_projector.consume.decode import Item
from basewatch_projector.consume.pausing import Pausing, Reason


class Holding:
    """Per held partition, its records received at or after the pending boundary."""

    def __init__(self, pausing: Pausing, limit: int) -> None:
        self._pausing = pausing
        self._limit = limit
        self._overflowing = False
        self._held: dict[TopicPartition, list[Item]] = {}

    def admit(
        self, items: Sequence[Item], epochs: Mapping[TopicPartition, int], cut: Cut
    ) -> list[Item]:
        """The records to apply now, at most ``limit``: the held ones and ``items``, per
        partition those before its first record ``cut`` holds. The rest is held and its
        partition paused."""
        was_held = self._held
        held: dict[TopicPartition, list[Item]] = {}
        kept: list[Item] = []
        # A held partition releases records from the front of its list only, so the cut
        # is asked about those, not about every record held (a replay holds thousands
        # and releases a few hundred at each boundary).
        for tp, waiting in was_held.items():
            epoch = epochs.get(tp)  # records held before a repositioning: fetched again
            current = [item for item in waiting if item.epoch == epoch]
            first = next(
                (k for k, item in enumerate(current) if cut.holds(tp, item.decoded)),
                len(current),
            )
            kept += current[:first]
            if first < len(current):
                held[tp] = current[first:]
        for item in items:
            tp = TopicPartition(item.raw.topic, item.raw.partition)
            if item.epoch != epochs.get(tp):
                if tp not in was_held:
                    kept.append(item)  # a stale fetch: the consume loop drops it
                continue  # its partition was held and repositioned: fetched again
            if tp in held:
                held[tp].append(item)
            elif cut.holds(tp, item.decoded):
                held[tp] = [item]
            else:
                kept.append(item)
        self._overflowing = len(kept) > self._limit
        if self._overflowing:
            kept = self._over_limit(kept, held)
        self._held = held
        self._pausing.hold(Reason.HOLDING, held.keys() - was_held.keys())
        self._pausing.release(Reason.HOLDING, was_held.keys() - held.keys())
        return kept

    def _over_limit(self, kept: list[Item], held: dict[TopicPartition, list[Item]]) -> list[Item]:
        """The first ``limit`` of ``kept``; the rest goes back to the front of ``held``.

        Each partition's records in ``kept`` come before its held ones and in log order,
        so the first ``limit`` are a prefix of every partition's records, and the cut's
        decisions on them never depended on a record left out. A held partition starts
        at a record with a time (``first_held``): records without one (dead letters,
        erasures) at the front of the rest are applied now."""
        rest: dict[TopicPartition, list[Item]] = {}
        for item in kept[self._limit :]:
            tp = TopicPartition(item.raw.topic, item.raw.partition)
            rest.setdefault(tp, []).append(item)
        applied = kept[: self._limit]
        for tp, items in rest.items():
            first = next((k for k, item in enumerate(items) if item.decoded is not None), None)
            if first is None:
                applied += items
                continue
            applied += items[:first]
            held[tp] = items[first:] + held.get(tp, [])
        return applied

    @property
    def overflowing(self) -> bool:
        """Whether the last admit left records over the limit: admit them before
        fetching more (else each fetch would join the queue, and it would never shrink)."""
        return self._overflowing

    def ready(self, cut: Cut) -> bool:
        """True when a partition's first held record is no longer cut: admit them now."""
        return any(not cut.holds(tp, items[0].decoded) for tp, items in self._held.items())

    def first_held(self) -> dict[TopicPartition, datetime]:
        """Per held partition, the receive time of its first held record."""
        return {tp: _received(items[0]) for tp, items in self._held.items()}

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions revoked: the new owner fetches them from the database's offset."""
        for tp in partitions:
            self._held.pop(tp, None)


def _received(item: Item) -> datetime:
    assert item.decoded is not None  # a partition is held at a record with a time
    return item.decoded.received_at

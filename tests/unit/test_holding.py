"""Holding: no batch holds more than ``BASEWATCH_BATCH_MAX_RECORDS`` records, even when
the records of every partition held at a boundary are released at once, and what is
left over is applied next, in each partition's order, exactly once."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from basewatch_projector.churn.cut import Cut
from basewatch_projector.consume.decode import Item
from basewatch_projector.consume.holding import Holding
from basewatch_projector.consume.pausing import Pausing
from basewatch_shared.contract.events import Identify
from basewatch_shared.contract.records import Record

T0 = datetime(2026, 11, 1, tzinfo=UTC)
S = timedelta(seconds=1)
TOPIC = "customers"
PARTITIONS = [TopicPartition(TOPIC, p) for p in range(3)]


class _Consumer:
    """What Pausing asks of the Kafka consumer: the assignment, pause and resume."""

    def __init__(self) -> None:
        self.paused: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return set(PARTITIONS)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused |= set(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused -= set(tps)


def _item(partition: int, offset: int, received: datetime, decoded: bool = True) -> Item:
    raw = ConsumerRecord(TOPIC, partition, offset, 0, 0, b"k", b"v", None, 1, 1, [])
    event = Identify(event_id=f"e{partition}-{offset}", occurred_at=T0, customer_id="c")
    record = Record(event, received, "src") if decoded else None
    return Item(raw, record, None if decoded else "not a record", epoch=1)


def _cut(boundary: datetime) -> Cut:
    return Cut(boundary, {}, telemetry_topic="telemetry", earliest=4 * S)


EPOCHS = dict.fromkeys(PARTITIONS, 1)


def _drain(holding: Holding, first: Iterable[Item], boundary: datetime) -> list[list[Item]]:
    """The batches admitted until nothing is held or waiting (no more fetches, as the
    consume loop does while the holding overflows)."""
    batches = [holding.admit(list(first), EPOCHS, _cut(boundary))]
    while holding.ready(_cut(boundary)):
        assert holding.overflowing == (len(batches[-1]) == 5)
        batches.append(holding.admit([], EPOCHS, _cut(boundary)))
    assert not holding.overflowing
    return batches


def _offsets(items: Iterable[Item]) -> list[tuple[int, int]]:
    return [(item.raw.partition, item.raw.offset) for item in items]


def test_records_released_at_a_boundary_come_in_batches_of_at_most_the_limit() -> None:
    consumer = _Consumer()
    holding = Holding(Pausing(consumer), limit=5)
    boundary = T0 + 10 * S
    # Every partition's records are held at the pending boundary, as at a catch-up's start.
    records = [_item(p, o, T0 + o * S) for o in range(4) for p in range(3)]
    assert holding.admit(records, EPOCHS, _cut(T0)) == []
    assert consumer.paused == set(PARTITIONS)
    # The boundary is sampled: 12 records are released, 5 at a time.
    batches = _drain(holding, [], boundary)
    assert [len(b) for b in batches] == [5, 5, 2]
    applied = [item for batch in batches for item in batch]
    assert sorted(_offsets(applied)) == sorted(_offsets(records))  # each exactly once
    for p in range(3):  # and each partition in its log order
        assert [o for q, o in _offsets(applied) if q == p] == [0, 1, 2, 3]
    assert consumer.paused == set()
    assert holding.first_held() == {}


def test_what_a_batch_leaves_over_waits_paused_and_keeps_the_cut_behind_it() -> None:
    consumer = _Consumer()
    holding = Holding(Pausing(consumer), limit=4)
    boundary = T0 + 3 * S
    # Partition 0 has 6 records, 3 of them before the boundary; partition 1 has 2.
    fetched = [_item(0, o, T0 + o * S) for o in range(6)] + [_item(1, 0, T0), _item(1, 1, T0)]
    first = holding.admit(fetched, EPOCHS, _cut(boundary))
    assert _offsets(first) == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert consumer.paused == set(PARTITIONS[:2])
    # Partition 1's left-over record is next; partition 0 stays held at the boundary.
    assert _offsets(holding.admit([], EPOCHS, _cut(boundary))) == [(1, 1)]
    assert holding.first_held() == {PARTITIONS[0]: T0 + 3 * S}
    assert consumer.paused == {PARTITIONS[0]}


def test_a_left_over_partition_never_starts_at_a_record_without_a_time() -> None:
    holding = Holding(Pausing(_Consumer()), limit=2)
    fetched = [_item(0, 0, T0), _item(0, 1, T0), _item(0, 2, T0, decoded=False), _item(0, 3, T0)]
    first = holding.admit(fetched, EPOCHS, _cut(T0 + 60 * S))
    # The dead letter after the limit goes with this batch: a held partition's first
    # record names the time it is held at.
    assert _offsets(first) == [(0, 0), (0, 1), (0, 2)]
    assert holding.first_held() == {PARTITIONS[0]: T0}
    assert _offsets(holding.admit([], EPOCHS, _cut(T0 + 60 * S))) == [(0, 3)]

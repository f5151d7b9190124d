"""Lanes: Kafka's partition choice, and batches that fill, seal and go out in order."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner

from basewatch_ingest.broker import make_producer
from basewatch_ingest.lanes import Lane, partition_index, settle


def test_partition_index_is_the_java_clients_choice() -> None:
    partitioner = DefaultPartitioner()
    rng = random.Random(7)
    for _ in range(2000):
        key = rng.randbytes(rng.randint(1, 40))
        count = rng.randint(1, 64)
        partitions = list(range(count))
        assert partition_index(key, count) == partitioner(key, partitions, partitions)


async def test_a_full_batch_is_sealed_and_batches_go_out_in_order() -> None:
    producer = make_producer("127.0.0.1:9", idempotence=False)  # never started
    try:
        lane = Lane("t", 0)
        assert not lane.has_records()
        value = b"x" * 100_000
        futures = [lane.append(producer, b"k", value) for _ in range(12)]
        assert lane.has_records()
        # 512 KiB batches: five records of 100 kB each, then a new batch.
        assert len(set(futures)) == 3
        assert futures[:5] == [futures[0]] * 5
        taken = []
        while (batch := lane.take()) is not None:
            taken.append(batch[1])
        assert taken == [futures[0], futures[5], futures[10]]
        assert not lane.has_records()
        for future in taken:
            settle(future, None)
            settle(future, RuntimeError("too late"))  # the first outcome stays
            assert future.result() is None
    finally:
        await producer.stop()

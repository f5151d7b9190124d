"""Every broker error is a 503 its client retries; a stand-in producer answers with it."""

from __future__ import annotations

import asyncio
from typing import Any, NamedTuple

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    TopicAuthorizationFailedError,
    UnknownError,
)

from basewatch_ingest.errors import BrokerUnavailable
from basewatch_ingest.metrics import Metrics
from basewatch_ingest.publisher import Publisher


class Record(NamedTuple):
    topic: str
    key: bytes
    value: bytes


class Cluster:
    def partitions_for_topic(self, _topic: str) -> set[int]:
        return {0}

    def leader_for_partition(self, _tp: Any) -> int:
        return 0


class Batch:
    def append(self, **_record: Any) -> object:
        return object()


class Producer:
    """Takes batches like AIOKafkaProducer; the broker answers each with ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.client = type("Client", (), {"cluster": Cluster()})()

    def create_batch(self) -> Batch:
        return Batch()

    async def send_batch(self, _batch: Batch, _topic: str, *, partition: int) -> Any:
        delivered = asyncio.get_running_loop().create_future()
        delivered.set_exception(self.error)
        return delivered


@pytest.mark.parametrize(
    "error",
    [
        NotLeaderForPartitionError(),  # retriable, as aiokafka flags it
        KafkaTimeoutError(),  # not flagged retriable: the broker did not answer in time
        UnknownError(),  # not flagged: what a broker restarted empty answered for a while
        TopicAuthorizationFailedError(),  # not flagged: the client's retry waits for a fix
        ConnectionResetError(),
    ],
)
async def test_any_broker_error_is_a_503_counted_as_broker_error(error: Exception) -> None:
    metrics = Metrics()
    broker: Any = type("Broker", (), {"producer": Producer(error)})()
    publisher = Publisher(broker, timeout=5, metrics=metrics)
    try:
        with pytest.raises(BrokerUnavailable, match="the broker refused the batch"):
            await publisher.publish([Record("t", b"key", b"value")])
    finally:
        await publisher.close()
    errors = metrics.registry.get_sample_value(
        "basewatch_ingest_produce_errors_total", {"reason": "broker_error"}
    )
    assert errors == 1

"""Broker errors: one classification, asked by the publisher; a stand-in producer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    ProducerClosed,
    TopicAuthorizationFailedError,
    UnsupportedVersionError,
)

from basewatch_ingest.errors import BrokerUnavailable, transient
from basewatch_ingest.metrics import Metrics
from basewatch_ingest.publisher import OutRecord, Publisher


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (KafkaConnectionError(), True),
        (NotLeaderForPartitionError(), True),
        (KafkaTimeoutError(), True),  # aiokafka does not flag it; a broker that did not answer
        (ProducerClosed(), True),  # ingest is stopping: the retry reaches another
        (TimeoutError(), True),
        (ConnectionRefusedError(), True),
        (TopicAuthorizationFailedError(), False),
        (UnsupportedVersionError(), False),
        (MessageSizeTooLargeError(), False),
        (KafkaError(), False),
        (ValueError(), False),
    ],
)
def test_transient_asks_the_error(error: BaseException, expected: bool) -> None:
    assert transient(error) is expected


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


async def publish(error: BaseException, metrics: Metrics) -> None:
    broker: Any = type("Broker", (), {"producer": Producer(error)})()
    publisher = Publisher(broker, timeout=5, metrics=metrics)
    try:
        await publisher.publish([OutRecord("t", b"key", b"value")])
    finally:
        await publisher.close()


def produce_errors(metrics: Metrics, reason: str) -> float | None:
    return metrics.registry.get_sample_value(
        "basewatch_ingest_produce_errors_total", {"reason": reason}
    )


@pytest.mark.parametrize("error", [NotLeaderForPartitionError(), KafkaTimeoutError()])
async def test_a_transient_broker_error_is_a_503(error: KafkaError) -> None:
    metrics = Metrics()
    with pytest.raises(BrokerUnavailable, match="the broker refused the batch"):
        await publish(error, metrics)
    assert produce_errors(metrics, "broker_error") == 1


@pytest.mark.parametrize("error", [TopicAuthorizationFailedError(), MessageSizeTooLargeError()])
async def test_a_fault_retrying_does_not_mend_is_raised_as_it_is(error: KafkaError) -> None:
    metrics = Metrics()
    with pytest.raises(type(error)):
        await publish(error, metrics)
    assert produce_errors(metrics, "broker_error") is None

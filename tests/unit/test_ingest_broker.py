"""The producer's lifecycle and the readiness probe, with a stand-in producer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from basewatch_ingest.broker import Broker
from basewatch_ingest.errors import BrokerUnavailable
from basewatch_ingest.metrics import Metrics
from tests.support.polling import eventually

TOPICS = ("t.customers.v1", "t.telemetry.v1")


class Cluster:
    def __init__(self, topics: set[str]) -> None:
        self.topics = topics

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return {0, 1} if topic in self.topics else None


class Client:
    def __init__(self) -> None:
        self.probes = 0
        self.topics = set(TOPICS)
        self.hang = False

    async def fetch_all_metadata(self) -> Cluster:
        self.probes += 1
        await asyncio.sleep(3600 if self.hang else 0.01)
        return Cluster(self.topics)


class Producer:
    """Starts, or fails to, like AIOKafkaProducer."""

    def __init__(self, fail: bool) -> None:
        self.fail = fail
        self.client = Client()
        self.stopped = False

    async def start(self) -> None:
        if self.fail:
            raise KafkaConnectionError("no broker")

    async def stop(self) -> None:
        self.stopped = True


class Producers:
    """A factory whose first ``failures`` producers cannot connect."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.made: list[Producer] = []

    def __call__(self) -> Any:
        self.made.append(Producer(fail=len(self.made) < self.failures))
        return self.made[-1]


def broker(producers: Producers, cache_s: float = 0.2) -> Broker:
    return Broker(
        producers,
        address="test:9092",
        topics=TOPICS,
        connect_timeout=1,
        probe_timeout=0.1,
        metrics=Metrics(),
        cache_s=cache_s,
    )


async def test_readiness_is_probed_once_per_cache_period_by_concurrent_callers() -> None:
    producers = Producers()
    subject = broker(producers)
    await subject.start()
    try:
        assert await asyncio.gather(*(subject.ready() for _ in range(50))) == [True] * 50
        assert producers.made[0].client.probes == 1
        assert await subject.ready()
        assert producers.made[0].client.probes == 1
        await asyncio.sleep(0.25)
        assert await subject.ready()
        assert producers.made[0].client.probes == 2
    finally:
        await subject.stop()


async def test_a_broker_that_does_not_answer_or_lacks_topics_is_not_ready() -> None:
    producers = Producers()
    subject = broker(producers, cache_s=0)
    await subject.start()
    client = producers.made[0].client
    try:
        client.topics = {TOPICS[0]}
        assert not await subject.ready()
        client.topics = set(TOPICS)
        client.hang = True
        async with asyncio.timeout(1):  # bounded by the probe timeout, not the broker
            assert not await subject.ready()
        client.hang = False
        assert await subject.ready()
    finally:
        await subject.stop()


async def test_a_failed_start_is_retried_in_the_background() -> None:
    producers = Producers(failures=2)
    subject = broker(producers)
    await subject.start()  # returns after one failed attempt
    try:
        with pytest.raises(BrokerUnavailable):
            _ = subject.producer
        assert not await subject.ready()

        async def connected() -> bool:
            try:
                return subject.producer is producers.made[-1]
            except BrokerUnavailable:
                return False

        await eventually(connected, bool, within=5, interval=0.05)
        assert [p.stopped for p in producers.made] == [True, True, False]  # failures closed
    finally:
        await subject.stop()
    assert producers.made[-1].stopped


async def test_stop_while_still_connecting_closes_everything() -> None:
    producers = Producers(failures=1000)
    subject = broker(producers)
    await subject.start()
    await subject.stop()
    await subject.stop()  # twice is fine
    assert all(p.stopped for p in producers.made)

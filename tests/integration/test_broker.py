"""The broker basewatch runs on: topic creation, produce and consume, and the embedded broker."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import DefaultPartitioner

from basewatch_shared.devtools.broker import BrokerError, EmbeddedBroker
from basewatch_shared.topics import BrokerUnavailableError, Topics, create_topics, wait_for_broker
from tests.support.kafka import TEST_PARTITIONS
from tests.support.ports import bound_socket, free_port

# Every wait below has its own deadline; this is the backstop. Fixtures are left out
# of it: the session's Kafka may be a container that takes a while to start.
pytestmark = pytest.mark.timeout(30, func_only=True)

# The lowest session timeout Apache Kafka accepts by default; Tansu answers JoinGroup
# after half of it, so a larger one only slows these tests down.
GROUP_SETTINGS = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


def poll_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Wait until ``condition()`` holds; fail the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within {timeout_s} s")
        time.sleep(0.01)


def process_state(pid: int) -> str | None:
    """The state letter of a process (R, S, T, Z ...), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_dead(pid: int) -> bool:
    """Gone, or a zombie: init here reaps orphans with a delay of about a second."""
    return process_state(pid) in (None, "Z", "X")


# Topics


async def test_topics_are_created_with_six_partitions(kafka_bootstrap: str, topics: Topics) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap)
    await consumer.start()
    try:
        listed = await consumer.topics()
        for name in topics.all:
            assert name in listed
            assert consumer.partitions_for_topic(name) == set(range(TEST_PARTITIONS))
    finally:
        await consumer.stop()


async def test_create_topics_is_idempotent(
    kafka_bootstrap: str, topics: Topics, caplog: pytest.LogCaptureFixture
) -> None:
    assert await create_topics(kafka_bootstrap, topics, TEST_PARTITIONS, 1) == []

    fresh = Topics(prefix=topics.prefix + "again.")
    assert await create_topics(kafka_bootstrap, fresh, 2, 1) == list(fresh.all)
    assert await create_topics(kafka_bootstrap, fresh, 2, 1) == []
    assert "exists with" not in caplog.text

    assert await create_topics(kafka_bootstrap, fresh, 3, 1) == []
    assert f"topic {fresh.customers} exists with 2 partitions, not 3" in caplog.text


async def retention_ms(bootstrap: str, topic: str) -> str | None:
    """The ``retention.ms`` the broker applies to a topic."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [answer] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [resource] = answer.resources
    values: dict[str, str] = {entry[0]: entry[1] for entry in resource[4]}
    return values.get("retention.ms")


async def test_the_dead_letter_topic_keeps_records_for_a_bounded_time(
    kafka_bootstrap: str, topics: Topics
) -> None:
    # Found by attacking a running stack: dead letters, which may hold personal data,
    # were kept for as long as the broker keeps anything (Kafka's default: 7 days,
    # unless an operator changed it; forever on some brokers).
    assert await retention_ms(kafka_bootstrap, topics.deadletter) == str(14 * 86400 * 1000)
    fresh = Topics(prefix=topics.prefix + "short.")
    await create_topics(kafka_bootstrap, fresh, 1, 1, deadletter_retention=timedelta(hours=2))
    assert await retention_ms(kafka_bootstrap, fresh.deadletter) == str(2 * 3600 * 1000)


async def test_create_topics_waits_for_a_starting_broker() -> None:
    broker = EmbeddedBroker(free_port())
    creating = asyncio.create_task(
        create_topics(broker.bootstrap_servers, Topics(), 3, 1, timeout_s=10)
    )
    await asyncio.sleep(0.3)  # not a wait for a condition: the broker starts late on purpose
    assert not creating.done()
    await asyncio.to_thread(broker.start)
    try:
        assert await asyncio.wait_for(creating, 10) == list(Topics().all)
    finally:
        await asyncio.to_thread(broker.stop)


async def test_wait_for_broker_gives_up_on_a_closed_port() -> None:
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError, match="no answer"):
        await wait_for_broker(f"127.0.0.1:{free_port()}", timeout_s=0.5)
    assert time.monotonic() - started < 2


# Produce and consume


async def test_produce_in_batches_and_consume_with_a_group(
    kafka_bootstrap: str, kafka_idempotence: bool, topics: Topics, group_id: str
) -> None:
    keys = [f"customer-{i}".encode() for i in range(20)]
    records = [(keys[i % len(keys)], f"event-{i}".encode()) for i in range(600)]
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=kafka_idempotence
    )
    await producer.start()
    try:
        await _send_batches(producer, topics.customers, records)
        # One more record per key through send(): it must land where the batches went.
        for key in keys:
            await producer.send_and_wait(topics.customers, b"by-send", key=key)
    finally:
        await producer.stop()
    expected = len(records) + len(keys)

    consumer = AIOKafkaConsumer(
        topics.customers,
        bootstrap_servers=kafka_bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        **GROUP_SETTINGS,
    )
    await consumer.start()
    try:
        got = await _consume(consumer, expected, timeout_s=15)
        await consumer.commit()
        per_partition = Counter(tp for tp, _ in got)
        for tp, count in per_partition.items():
            assert consumer.highwater(tp) == count
            assert await consumer.committed(tp) == count
    finally:
        await consumer.stop()

    assert sorted(value for _, (_, value) in got if value != b"by-send") == sorted(
        value for _, value in records
    )
    partitions_of = defaultdict(set)
    for tp, (key, _) in got:
        partitions_of[key].add(tp.partition)
    assert all(len(partitions) == 1 for partitions in partitions_of.values())
    assert len(partitions_of) == len(keys)
    assert len(per_partition) > 1  # 20 keys over 6 partitions: the keys spread


async def _send_batches(
    producer: AIOKafkaProducer, topic: str, records: list[tuple[bytes, bytes]]
) -> None:
    """send_batch takes a partition, so choose it as send() would: murmur2 of the key."""
    partitions = sorted(await producer.partitions_for(topic))
    partitioner = DefaultPartitioner()
    by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    for key, value in records:
        by_partition[partitioner(key, partitions, partitions)].append((key, value))
    sent = []
    for partition, items in by_partition.items():
        batch = producer.create_batch()
        for key, value in items:
            assert batch.append(key=key, value=value, timestamp=None) is not None
        batch.close()
        sent.append(await producer.send_batch(batch, topic, partition=partition))
    await asyncio.gather(*sent)  # acks=all: resolved once the broker has them


async def _consume(
    consumer: AIOKafkaConsumer, expected: int, timeout_s: float
) -> list[tuple[TopicPartition, tuple[bytes, bytes]]]:
    got: list[tuple[TopicPartition, tuple[bytes, bytes]]] = []
    async with asyncio.timeout(timeout_s):
        while len(got) < expected:
            for tp, messages in (await consumer.getmany(timeout_ms=200)).items():
                got.extend((tp, (m.key, m.value)) for m in messages)
    assert len(got) == expected
    return got


# The embedded broker itself


def test_start_and_stop_leave_no_process() -> None:
    broker = EmbeddedBroker()
    broker.start()
    pid = broker.pid
    assert broker.running
    assert broker.bootstrap_servers.startswith("127.0.0.1:")
    assert "ready" in broker.output()
    broker.stop()
    assert not broker.running
    assert process_state(pid) is None  # stopped and reaped, not a zombie
    broker.stop()  # a second stop is fine


def test_context_manager_and_restart_on_the_same_port() -> None:
    with EmbeddedBroker() as broker:
        address, first_pid = broker.bootstrap_servers, broker.pid
        broker.stop()
        broker.start()
        assert broker.bootstrap_servers == address
        assert broker.pid != first_pid
    assert is_dead(first_pid)
    assert not broker.running


def test_output_goes_to_the_log_file(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    with EmbeddedBroker(log_path=log) as broker:
        assert "ready" in broker.output()
    assert f"listening on: tcp://{broker.bootstrap_servers}" in log.read_text()


async def test_a_broker_started_from_a_thread_outlives_the_thread() -> None:
    broker = EmbeddedBroker()
    starter = threading.Thread(target=broker.start)
    starter.start()
    await asyncio.to_thread(starter.join, 10)
    try:
        assert not starter.is_alive()
        await wait_for_broker(broker.bootstrap_servers, timeout_s=5)
        assert broker.running
    finally:
        await asyncio.to_thread(broker.stop)


def test_kill_is_immediate(embedded_broker: EmbeddedBroker) -> None:
    pid = embedded_broker.pid
    embedded_broker.kill()
    assert process_state(pid) is None


@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_broker_dies_with_its_parent(tmp_path: Path, started_from: str) -> None:
    """SIGKILL skips every cleanup; PR_SET_PDEATHSIG must still take the broker down."""
    pid_file = tmp_path / "broker.pid"
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys, time
        from basewatch_shared.devtools.broker import EmbeddedBroker

        broker = EmbeddedBroker()
        if {started_from!r} == "thread":
            # a thread that ends before we are killed
            asyncio.run(asyncio.to_thread(broker.start))
        else:
            broker.start()
        with open({str(pid_file) + ".tmp"!r}, "w") as f:
            f.write(str(broker.pid))
        os.rename({str(pid_file) + ".tmp"!r}, {str(pid_file)!r})
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.DEVNULL)
    try:
        poll_until(lambda: pid_file.exists() or parent.poll() is not None, 10, "broker pid")
        assert parent.poll() is None, "the parent exited early"
        broker_pid = int(pid_file.read_text())
        assert not is_dead(broker_pid)
    finally:
        parent.kill()
        parent.wait(5)
    poll_until(lambda: is_dead(broker_pid), 5, f"broker {broker_pid} outlives its parent")


async def test_freeze_and_thaw(embedded_broker: EmbeddedBroker) -> None:
    servers = embedded_broker.bootstrap_servers
    await wait_for_broker(servers, timeout_s=5)

    pid = embedded_broker.pid
    embedded_broker.freeze()
    poll_until(lambda: process_state(pid) == "T", 2, "stopped state")
    with pytest.raises(BrokerUnavailableError):
        await wait_for_broker(servers, timeout_s=0.5)

    embedded_broker.thaw()
    await wait_for_broker(servers, timeout_s=5)
    assert process_state(pid) != "T"


def test_stop_a_frozen_broker() -> None:
    broker = EmbeddedBroker()
    broker.start()
    pid = broker.pid
    broker.freeze()
    started = time.monotonic()
    broker.stop()
    assert time.monotonic() - started < 2
    assert process_state(pid) is None


def test_a_taken_port_is_a_clear_error() -> None:
    with bound_socket() as taken:
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(BrokerError, match="in use"):
            EmbeddedBroker(port).start()


def test_a_broker_that_never_gets_ready_is_stopped(tmp_path: Path) -> None:
    fake = tmp_path / "fake-tansu"
    fake.write_text("#!/bin/sh\necho starting up\nexec sleep 30\n")
    fake.chmod(0o755)
    broker = EmbeddedBroker(binary=str(fake), startup_timeout_s=0.3)
    with pytest.raises(BrokerError, match=r"not ready after 0.3 s:\nstarting up"):
        broker.start()
    assert not broker.running
    assert process_state(broker.pid) is None


def test_a_broker_that_exits_early_is_a_clear_error() -> None:
    broker = EmbeddedBroker(binary="/bin/false")
    with pytest.raises(BrokerError, match="exited with status 1 before it was ready"):
        broker.start()


def test_signals_need_a_running_broker() -> None:
    broker = EmbeddedBroker()
    with pytest.raises(BrokerError, match="not running"):
        broker.freeze()
    with pytest.raises(BrokerError, match="has not been started"):
        _ = broker.bootstrap_servers

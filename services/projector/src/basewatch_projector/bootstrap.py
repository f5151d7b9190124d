"""Every resource the projector runs on, opened in one place and closed in reverse.

The consume side runs on a thread of its own (``threaded``: the read API never waits for
the consume loop's turns): the engine (checked migrated), the producer, the keys
reader, the consumer, then the consume loop and the outbox as tasks. Then the read API's
own engine, on its loop. Each goes on an ``AsyncExitStack`` as soon as it exists: a
start that fails at any step closes what it opened and raises ``CannotStart``, one line
that says what is missing. On the way out the tasks stop (the batch in flight commits
or rolls back whole), the consumer leaves the group, the producer flushes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.churn.schedule import Sweeper
from basewatch_projector.consume.deadletter import DeadLetters
from basewatch_projector.consume.lag import LagTracker
from basewatch_projector.consume.loop import Consumer
from basewatch_projector.errors import CannotStart
from basewatch_projector.history.recorder import Recorder
from basewatch_projector.metrics import Metrics
from basewatch_projector.opening import open_engine, reaching_database, why
from basewatch_projector.outbox import Outbox, stored_then_published
from basewatch_projector.projection.known import Known
from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.signals import OnSignals
from basewatch_projector.settings import Settings
from basewatch_projector.storage.migrate import NotMigrated, check_migrated
from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient
from basewatch_projector.tasks import Tasks
from basewatch_projector.threaded import on_own_thread
from basewatch_shared.keyring.reader import KeysReader
from basewatch_shared.keyring.ring import KeyRing
from basewatch_shared.logs import quiet
from basewatch_shared.topics import Topics

log = logging.getLogger("basewatch.projector")


@dataclass(frozen=True)
class Projector:
    """What the read API needs of a running projector."""

    engine: AsyncEngine
    broker_ready: Callable[[], Awaitable[bool]]


@asynccontextmanager
async def running(
    settings: Settings, metrics: Metrics, lag: LagTracker
) -> AsyncIterator[Projector]:
    """Open every resource, run the consume loop and the outbox; close all in reverse."""
    group = {"consumer_group": settings.consumer_group}
    async with AsyncExitStack() as stack:
        consuming = await stack.enter_async_context(
            on_own_thread(lambda: _consuming(settings, metrics, lag), "consume")
        )
        # The read API's, on its loop. No pre-ping: a round trip less per request; after
        # an outage one request finds the dead connection (503) and the pool renews.
        engine, _ = open_engine(settings, pre_ping=False)
        stack.push_async_callback(engine.dispose)
        log.info("projector started", extra=group)
        try:
            yield Projector(engine, consuming)
        finally:
            log.info("projector stopping", extra=group)
            try:
                await stack.aclose()
            finally:
                log.info("projector stopped")


@asynccontextmanager
async def _consuming(
    settings: Settings, metrics: Metrics, lag: LagTracker
) -> AsyncIterator[Callable[[], Awaitable[bool]]]:
    """The consume side, on the consume thread; yields the read API's broker check."""
    async with AsyncExitStack() as stack:
        yield await _open(settings, metrics, lag, stack)


async def _open(
    settings: Settings, metrics: Metrics, lag: LagTracker, stack: AsyncExitStack
) -> Callable[[], Awaitable[bool]]:
    """Open the consume side; returns the broker check."""
    topics = Topics(settings.topic_prefix)
    engine = await _database(settings, stack)
    producer = _producer(settings)
    await _start(producer, settings, stack)
    outbox = Outbox(engine, producer, settings.kafka_bootstrap_servers, topics.signals)
    wiring = _Wiring(settings, topics, engine, metrics, lag, stored_then_published(metrics, outbox))
    # Every key on the keys topic read before the first record (docs/erasure.md).
    keys = KeysReader(settings.kafka_bootstrap_servers, topics.keys, KeyRing(settings.master()))
    await _start(keys, settings, stack)
    kafka = _kafka_consumer(settings)
    consumer = await _consumer(wiring, kafka, producer, keys)
    consumer.subscribe()
    await _start(kafka, settings, stack)
    tasks = Tasks()
    stack.push_async_callback(tasks.close)
    tasks.start(consumer.run(tasks.stop), "consume loop")
    tasks.start(outbox.run(tasks.stop), "outbox")

    loop = asyncio.get_running_loop()

    async def broker_ready() -> bool:  # awaited on the read API's loop, run on this one
        asked = asyncio.run_coroutine_threadsafe(producer.client.fetch_all_metadata(), loop)
        return bool((await asyncio.wrap_future(asked)).brokers())

    return broker_ready


async def _database(settings: Settings, stack: AsyncExitStack) -> AsyncEngine:
    """The engine, on a database at the newest migration."""
    engine, where = open_engine(settings)
    stack.push_async_callback(engine.dispose)
    with reaching_database(where):
        try:
            with quiet("alembic"):  # a check, not a migration: nothing to report on the way
                await check_migrated(engine)
        except NotMigrated as exc:
            raise CannotStart(str(exc)) from None
    return engine


def _producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=settings.kafka_idempotence,
        client_id="basewatch-projector",
    )


def _kafka_consumer(settings: Settings) -> AIOKafkaConsumer:
    session_ms = int(settings.consumer_session_timeout.total_seconds() * 1000)
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=settings.consumer_group,
        client_id="basewatch-projector",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        session_timeout_ms=session_ms,
        # How long a rebalance waits for members to rejoin; a member that died without
        # leaving would otherwise hold every restart up for minutes.
        rebalance_timeout_ms=session_ms,
        heartbeat_interval_ms=max(100, session_ms // 3),
    )


async def _start(
    client: AIOKafkaProducer | AIOKafkaConsumer | KeysReader,
    settings: Settings,
    stack: AsyncExitStack,
) -> None:
    """Start a Kafka client, stopped on the way out (``stop`` is safe after a failed start)."""
    stack.push_async_callback(client.stop)
    try:
        with quiet("aiokafka"):  # its own lines would repeat what CannotStart says
            await client.start()
    except MAYBE_TRANSIENT as exc:
        if not transient(exc):
            raise
        where = settings.kafka_bootstrap_servers
        raise CannotStart(f"cannot reach the broker at {where}: {why(exc)}") from None


@dataclass(frozen=True)
class _Wiring:
    """What the consume side is built from."""

    settings: Settings
    topics: Topics
    engine: AsyncEngine
    metrics: Metrics
    lag: LagTracker
    stored: OnSignals


def _sweeper(w: _Wiring, known: Known) -> Sweeper:
    return Sweeper(
        w.engine,
        policy=policy_of(w.settings),
        loyal_min_orders=w.settings.loyal_min_orders,
        every=w.settings.sweep_every,
        ingest_delay=w.settings.ingest_delay,
        telemetry_topic=w.topics.telemetry,
        metrics=w.metrics,
        on_signals=w.stored,
        known=known,
    )


async def _consumer(
    w: _Wiring, kafka: AIOKafkaConsumer, producer: AIOKafkaProducer, keys: KeysReader
) -> Consumer:
    """The consume loop with the history recorder and the churn sweeper it drives."""
    known = Known(w.settings.state_cache_installations)
    sweeper = _sweeper(w, known)
    interval = w.settings.history_interval
    recorder = Recorder(
        w.engine,
        sweeper,
        telemetry_topic=w.topics.telemetry,
        interval=interval,
        on_signals=w.stored,
    )
    await recorder.load()
    return Consumer(
        kafka,
        w.engine,
        topics=w.topics,
        group=w.settings.consumer_group,
        loyal_min_orders=w.settings.loyal_min_orders,
        batch_max_records=w.settings.batch_max_records,
        lag=w.lag,
        metrics=w.metrics,
        dead_letters=DeadLetters(producer, w.topics.deadletter, w.metrics),
        recorder=recorder,
        sweeper=sweeper,
        on_signals=w.stored,
        known=known,
        keys=keys,
    )


def policy_of(settings: Settings) -> Policy:
    """The churn policy the settings describe."""
    return Policy(
        at_risk_after=settings.at_risk_after,
        churn_after=settings.churn_after,
        per_product={
            product: (t.at_risk_after, t.churn_after)
            for product, t in settings.product_thresholds.items()
        },
        hold_above=settings.hold_churn_above,
        hold_min=settings.hold_min_transitions,
    )

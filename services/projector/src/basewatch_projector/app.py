"""The projector application: the consume loop and the read API share one lifespan."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from basewatch_projector.api import router
from basewatch_projector.churn import Policy
from basewatch_projector.consumer import Consumer
from basewatch_projector.db import create_engine
from basewatch_projector.errors import NotFound
from basewatch_projector.history_api import router as history_router
from basewatch_projector.lag import LagTracker
from basewatch_projector.metrics import Metrics
from basewatch_projector.migrate import check_migrated
from basewatch_projector.ops import router as ops_router
from basewatch_projector.outbox import Outbox
from basewatch_projector.page import router as page_router
from basewatch_projector.recorder import Recorder
from basewatch_projector.settings import Settings
from basewatch_projector.unavailable import DATABASE_ERRORS, database_unavailable
from basewatch_shared.problems import ProblemError, install_problem_handlers
from basewatch_shared.topics import Topics

log = logging.getLogger("basewatch.projector")


def create_app(settings: Settings) -> FastAPI:
    """Build the projector app; the engine and Kafka clients start in the lifespan."""
    topics = Topics(settings.topic_prefix)
    metrics = Metrics()
    lag = LagTracker(metrics, lambda: datetime.now(UTC))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.database_url, schema=settings.database_schema)
        await check_migrated(engine)
        producer = AIOKafkaProducer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=settings.kafka_idempotence,
            client_id="basewatch-projector",
        )
        kafka = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            group_id=settings.consumer_group,
            client_id="basewatch-projector",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            session_timeout_ms=int(settings.consumer_session_timeout.total_seconds() * 1000),
            # How long a rebalance waits for members to rejoin; a member that died
            # without leaving would otherwise hold every restart up for minutes.
            rebalance_timeout_ms=int(settings.consumer_session_timeout.total_seconds() * 1000),
            heartbeat_interval_ms=max(
                100, int(settings.consumer_session_timeout.total_seconds() * 1000) // 3
            ),
        )
        outbox = Outbox(engine, producer, settings.kafka_bootstrap_servers, topics.signals)
        recorder = Recorder(
            engine=engine,
            consumer=kafka,
            telemetry_topic=topics.telemetry,
            policy=policy_of(settings),
            loyal_min_orders=settings.loyal_min_orders,
            interval=settings.history_interval,
            metrics=metrics,
            outbox=outbox,
        )
        await recorder.load()
        consumer = Consumer(
            consumer=kafka,
            producer=producer,
            engine=engine,
            topics=topics,
            group=settings.consumer_group,
            loyal_min_orders=settings.loyal_min_orders,
            batch_max_records=settings.batch_max_records,
            metrics=metrics,
            lag=lag,
            policy=policy_of(settings),
            sweep_interval=settings.sweep_interval,
            outbox=outbox,
            history=recorder,
        )
        app.state.engine = engine

        async def broker_ready() -> bool:
            metadata = await producer.client.fetch_all_metadata()
            return bool(metadata.brokers())

        app.state.broker_ready = broker_ready
        await producer.start()
        consumer.subscribe()
        await kafka.start()
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop), name="consume")
        task.add_done_callback(_exit_on_crash)
        publishing = asyncio.create_task(outbox.run(stop), name="outbox")
        publishing.add_done_callback(_exit_on_crash)
        log.info("projector started", extra={"consumer_group": settings.consumer_group})
        try:
            yield
        finally:
            log.info("projector stopping", extra={"consumer_group": settings.consumer_group})
            stop.set()
            for running in (task, publishing):
                running.remove_done_callback(_exit_on_crash)
            await asyncio.wait({task, publishing}, timeout=30)
            for running in (task, publishing):
                if not running.done():
                    running.cancel()  # an unfinished transaction rolls back whole
            await kafka.stop()  # leaves the group: the partitions move at once
            await producer.stop()
            await engine.dispose()
            log.info("projector stopped")

    app = FastAPI(title="basewatch projector", version="1", lifespan=lifespan)
    app.state.api_keys = settings.api_keys
    app.state.freshness = lag.freshness
    app.state.lag = lag
    app.state.history_interval = settings.history_interval
    install_problem_handlers(
        app,
        {
            NotFound: lambda e: ProblemError(404, "Not found", str(e)),
            **dict.fromkeys(DATABASE_ERRORS, database_unavailable),
        },
    )
    app.include_router(router)
    app.include_router(ops_router)
    app.include_router(history_router)
    app.include_router(page_router())

    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        # At scrape time too, not only after each batch: while a batch hangs (a locked
        # table, a slow database) the lag in seconds must keep growing on /metrics.
        lag.export()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _exit_on_crash(task: asyncio.Task[None]) -> None:
    # The loop never ends on its own; if it did, serving stale data silently is worse
    # than exiting and letting the supervisor restart us.
    if not task.cancelled() and task.exception() is not None:
        log.critical("consume loop crashed", exc_info=task.exception())
        os.kill(os.getpid(), signal.SIGTERM)


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

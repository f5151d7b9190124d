"""Exactly once under crashes, rebalances, poison records and a database outage."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_projector.storage.migrate import migrate
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.history import Out, history, record, ts
from tests.support.kafka import KafkaBackend, produce, read_records
from tests.support.keys import READ_AUTH
from tests.support.metrics import metric
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess, service_env
from tests.support.proxy import proxy_database
from tests.support.services import serve
from tests.support.tables import applied_offsets, snapshot


async def _clean_pass(
    db: TestDatabase, settings: Callable[..., Settings], total: int
) -> dict[str, Any]:
    """The tables a single undisturbed projector makes of the same topics in ``db``."""
    group = f"clean-{uuid.uuid4().hex[:8]}"
    engine = db.engine()
    try:
        await migrate(engine)
        async with serve(create_app(settings(consumer_group=group, **db.settings()))):
            await eventually(
                lambda: applied_offsets(engine, group), lambda n: n == total, within=120
            )
        return await snapshot(engine)
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_sigkill_mid_backlog_loses_and_duplicates_nothing(
    migrated: AsyncEngine,
    database: TestDatabase,
    another_database: TestDatabase,
    topics: Topics,
    kafka_bootstrap: str,
    kafka_backend: KafkaBackend,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    total = await produce(kafka_bootstrap, topics, history(150, 300, 6_000))
    env = service_env(database, kafka_backend, topics, group_id, BASEWATCH_BATCH_MAX_RECORDS="200")
    rng = random.Random(4)
    kills = 0
    while kills < 3:
        proc = await ServiceProcess("projector", env).start()
        before = await applied_offsets(migrated, group_id)
        # Kill it at a random moment after it has made some progress.
        target = min(before + rng.randrange(300, 1500), total)

        def reached(n: int, target: int = target) -> bool:
            return n >= target

        await eventually(
            lambda: applied_offsets(migrated, group_id),
            reached,
            within=60,
            interval=0.02,
        )
        await proc.kill()
        kills += 1
        if await applied_offsets(migrated, group_id) >= total:
            break
    proc = await ServiceProcess("projector", env).start()
    try:
        await eventually(
            lambda: applied_offsets(migrated, group_id), lambda n: n == total, within=120
        )
    finally:
        assert await proc.stop() == 0
    after_kills = await snapshot(migrated)
    reference = await _clean_pass(another_database, projector_settings, total)
    assert after_kills == reference
    assert len(after_kills["purchases"]) == 150  # 0+1+2 orders per 3 customers, counted once


@pytest.mark.slow
async def test_three_instances_one_leaving_mid_stream_totals_exact(
    migrated: AsyncEngine,
    database: TestDatabase,
    another_database: TestDatabase,
    topics: Topics,
    kafka_bootstrap: str,
    kafka_backend: KafkaBackend,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    if database.kind == "sqlite":
        pytest.skip("several projector processes share one database only on PostgreSQL")
    total = await produce(kafka_bootstrap, topics, history(200, 400, 12_000, seed=2))
    env = service_env(database, kafka_backend, topics, group_id, BASEWATCH_BATCH_MAX_RECORDS="300")
    procs = [await ServiceProcess("projector", env).start() for _ in range(3)]
    try:
        await eventually(
            lambda: applied_offsets(migrated, group_id),
            lambda n: n >= total // 3,
            within=90,
            interval=0.05,
        )
        assert await procs[0].stop() == 0  # leaves the group mid-stream
        await eventually(
            lambda: applied_offsets(migrated, group_id), lambda n: n == total, within=120
        )
    finally:
        for proc in procs[1:]:
            assert await proc.stop() == 0
    reference = await _clean_pass(another_database, projector_settings, total)
    assert await snapshot(migrated) == reference


async def test_poison_records_are_dead_lettered_and_the_partition_moves_on(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    good = {"event_id": "g1", "type": "identify", "occurred_at": ts(1), "customer_id": "c1"}
    after = {
        "event_id": "g2",
        "type": "identify",
        "occurred_at": ts(2),
        "customer_id": "c1",
        "traits": {"name": "Ada"},
    }
    poison = [
        Out("customers", b"c1", b"not json at all"),
        Out("customers", b"c1", b"[1, 2, 3]"),
        Out(
            "customers",
            b"c1",
            record(
                {"event_id": "x", "type": "purchase", "occurred_at": ts(1), "customer_id": "c1"}
            ),
        ),
    ]
    sent = await produce(
        kafka_bootstrap,
        topics,
        [Out("customers", b"c1", record(good)), *poison, Out("customers", b"c1", record(after))],
    )
    async with serve(create_app(projector_settings())) as api:
        await eventually(lambda: applied_offsets(migrated, group_id), lambda n: n == sent)
        body = (await api.get("/v1/customers/c1", headers=READ_AUTH)).json()
        assert body["traits"] == {"name": "Ada"}  # the record after the poison was applied
        dead_lettered = await metric(
            api, "basewatch_projector_events_total", outcome="dead_lettered"
        )
        assert dead_lettered == 3

    # Dead letters are acknowledged before the batch's offsets are stored: all are there.
    dead = await read_records(kafka_bootstrap, [topics.deadletter])
    assert [r.value for r in dead] == [p.value for p in poison]
    for r in dead:
        headers = dict(r.headers)
        assert r.key == b"c1"
        assert headers["basewatch.original.topic"] == topics.customers.encode()
        assert int(headers["basewatch.original.offset"]) in (1, 2, 3)
        assert headers["basewatch.original.partition"].isdigit()
        assert headers["basewatch.error"]
    assert b"not JSON" in dict(dead[0].headers)["basewatch.error"]
    assert b"order_id" in dict(dead[2].headers)["basewatch.error"]


async def test_database_outage_is_retried_without_loss_or_rebalance(
    database: TestDatabase,
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    if database.kind == "sqlite":
        pytest.skip("an embedded database cannot go down")
    proxy, proxied = await proxy_database(database.url)
    first = await produce(kafka_bootstrap, topics, history(20, 40, 200, seed=3))
    async with serve(create_app(projector_settings(DATABASE_URL=proxied))) as api:
        await eventually(lambda: applied_offsets(migrated, group_id), lambda n: n == first)
        await proxy.cut()
        more = await produce(kafka_bootstrap, topics, history(20, 40, 300, seed=5))
        await asyncio.sleep(3)  # the outage lasts a while: batches fail and are retried
        assert await metric(api, "basewatch_projector_batch_retries_total") >= 1
        await proxy.restore()
        await eventually(
            lambda: applied_offsets(migrated, group_id), lambda n: n == first + more, within=60
        )
        assert await metric(api, "basewatch_projector_rebalances_total") == 1  # kept membership
        dead_lettered = await metric(
            api, "basewatch_projector_events_total", outcome="dead_lettered"
        )
        assert dead_lettered == 0
    await proxy.cut()

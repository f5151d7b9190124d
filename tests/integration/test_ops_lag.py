"""Lag, exact against the real broker: GET /v1/ops/lag and the gauges on /metrics.

A known backlog (1,000 records on the 6 telemetry partitions) is produced before the
projector starts, while a test transaction holds a lock on the offsets table: the
projector fetches (so it knows the log end offsets) but cannot commit a batch, which
leaves exactly 1,000 records unconsumed for as long as the test needs to look. Then the
lock goes and the projector catches up to 0.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from aiokafka.partitioner import DefaultPartitioner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_ingest.app import create_app as create_ingest
from basewatch_ingest.settings import Settings as IngestSettings
from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_shared.logs import JsonFormatter
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.history import RECEIVED, Out, history
from tests.support.kafka import TEST_PARTITIONS, produce
from tests.support.keys import INGEST_AUTH, READ_AUTH
from tests.support.polling import eventually
from tests.support.services import serve
from tests.support.tables import applied_offsets

BACKLOG = 1000
Partition = tuple[str, int]


@pytest.fixture
def database(postgres_db: TestDatabase) -> TestDatabase:
    """PostgreSQL only: the test holds a table lock, and production runs PostgreSQL."""
    return postgres_db


def telemetry_backlog() -> list[Out]:
    """The first 1,000 telemetry records of a deterministic history."""
    records = history(customers=50, installations=300, heartbeats=2000)
    return list(itertools.islice((r for r in records if r.kind == "telemetry"), BACKLOG))


def per_partition(records: list[Out], topics: Topics) -> dict[Partition, int]:
    """How many records each partition holds, placed as the producer places keys."""
    partitioner = DefaultPartitioner()
    partitions = list(range(TEST_PARTITIONS))
    counts = Counter(
        (topics.telemetry, partitioner(r.key, partitions, partitions)) for r in records
    )
    # The customers topic is consumed too, and empty: its end offsets are 0.
    return {(topics.customers, p): 0 for p in partitions} | {
        (topics.telemetry, p): counts[(topics.telemetry, p)] for p in partitions
    }


async def get_lag(projector: httpx.AsyncClient) -> dict[str, Any]:
    response = await projector.get("/v1/ops/lag", headers=READ_AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def batch_sizes(projector: httpx.AsyncClient) -> dict[str, float]:
    """The batch size histogram's cumulative counts on /metrics, by upper bound."""
    exposition = (await projector.get("/metrics")).text
    return {
        sample.labels["le"]: sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "basewatch_projector_batch_records_bucket"
    }


def rows(body: dict[str, Any]) -> dict[Partition, dict[str, Any]]:
    return {(row["topic"], row["partition"]): row for row in body["partitions"]}


def all_ends_known(body: dict[str, Any]) -> bool:
    parts = body["partitions"]
    return len(parts) == 2 * TEST_PARTITIONS and all(r["end_offset"] is not None for r in parts)


async def gauges(projector: httpx.AsyncClient) -> dict[str, dict[Partition, float]]:
    """The per-partition gauges on /metrics: metric name -> (topic, partition) -> value."""
    exposition = (await projector.get("/metrics")).text
    found: dict[str, dict[Partition, float]] = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if "partition" in sample.labels:
                key = (sample.labels["topic"], int(sample.labels["partition"]))
                found.setdefault(sample.name, {})[key] = sample.value
    return found


async def test_lag_is_exact_with_a_known_backlog(
    kafka_bootstrap: str,
    topics: Topics,
    group_id: str,
    migrated: AsyncEngine,
    projector_settings: Callable[..., Settings],
) -> None:
    records = telemetry_backlog()
    expected = per_partition(records, topics)
    assert sum(expected.values()) == BACKLOG and all(
        expected[(topics.telemetry, p)] > 0 for p in range(TEST_PARTITIONS)
    )
    assert await produce(kafka_bootstrap, topics, records) == BACKLOG

    async with migrated.connect() as lock:
        # Reads of the table go on (the projector loads its offsets on assignment);
        # every write waits, so no batch can commit.
        await lock.execute(text("LOCK TABLE consumer_offsets IN EXCLUSIVE MODE"))
        async with serve(create_app(projector_settings(batch_max_records=50))) as projector:
            try:
                stuck = await eventually(lambda: get_lag(projector), all_ends_known, within=30)
                for tp, row in rows(stuck).items():
                    assert row["end_offset"] == expected[tp], tp
                    assert row["committed_offset"] is None, tp
                    assert row["lag_records"] == expected[tp], tp
                    # Nothing applied yet, so no age is known; empty partitions are caught up.
                    assert row["lag_seconds"] == (None if expected[tp] else 0.0), tp
                assert stuck["lag_records"] == BACKLOG
                exported = await gauges(projector)
                assert exported["basewatch_projector_consumer_lag_records"] == {
                    tp: float(n) for tp, n in expected.items()
                }
                assert exported["basewatch_projector_log_end_offset"] == {
                    tp: float(n) for tp, n in expected.items()
                }
            finally:
                await lock.rollback()

            # Catching up, 50 records a batch: whatever moment we look at, the numbers add up.
            applied_before = 0

            def consistent(body: dict[str, Any]) -> bool:
                nonlocal applied_before
                applied = 0
                for tp, row in rows(body).items():
                    assert row["end_offset"] == expected[tp]
                    assert row["lag_records"] == expected[tp] - (row["committed_offset"] or 0)
                    applied += row["committed_offset"] or 0
                assert body["lag_records"] == BACKLOG - applied
                assert applied >= applied_before  # never backwards
                applied_before = applied
                return applied == BACKLOG

            done = await eventually(lambda: get_lag(projector), consistent, within=60)
            for tp, row in rows(done).items():
                n = expected[tp]
                assert row["committed_offset"] == (n or None), tp
                assert (row["lag_records"], row["lag_seconds"]) == (0, 0.0), tp
                if n:
                    assert row["last_received_at"] == RECEIVED
                    assert row["last_event_at"] is not None
            assert done["lag_seconds"] == 0.0
            assert sum(row["end_offset"] for row in done["partitions"]) == BACKLOG
            assert await applied_offsets(migrated, group_id) == BACKLOG

            exported = await gauges(projector)
            caught_up = dict.fromkeys(expected, 0.0)
            assert exported["basewatch_projector_consumer_lag_records"] == caught_up
            assert exported["basewatch_projector_consumer_lag_seconds"] == caught_up
            assert exported["basewatch_projector_log_end_offset"] == {
                tp: float(n) for tp, n in expected.items()
            }
            assert exported["basewatch_projector_committed_offset"] == {
                tp: float(n) for tp, n in expected.items() if n
            }
            # Never more than 50 records a batch: those held at the first history boundary
            # (every partition's first fetch) are released 50 at a time, not all at once.
            sizes = await batch_sizes(projector)
            assert sizes["+Inf"] >= BACKLOG / 50
            assert sizes["100.0"] == sizes["+Inf"], sizes

            assert (await projector.get("/v1/ops/lag")).status_code == 401
            forbidden = await projector.get("/v1/ops/lag", headers=INGEST_AUTH)
            assert forbidden.status_code == 403


async def test_services_log_start_stop_assignment_and_dead_letters_without_payload(
    caplog: pytest.LogCaptureFixture,
    kafka_bootstrap: str,
    topics: Topics,
    migrated: AsyncEngine,
    projector_settings: Callable[..., Settings],
    ingest_settings: IngestSettings,
) -> None:
    secret = "ada.lovelace@example.com"
    # Valid JSON that breaks the contract (no type), carrying personal data.
    poison = Out("customers", b"c1", json.dumps({"event_id": "x", "email": secret}).encode())
    caplog.set_level(logging.INFO)
    async with serve(create_ingest(ingest_settings)):
        pass
    async with serve(create_app(projector_settings())) as projector:
        await produce(kafka_bootstrap, topics, [poison])

        async def dead_lettered() -> list[logging.LogRecord]:
            return [r for r in caplog.records if r.getMessage() == "record dead-lettered"]

        [dead] = await eventually(dead_lettered, bool, within=30)
        # Dead-lettered records are consumed too: the partition moves past them.
        await eventually(lambda: get_lag(projector), lambda body: body["lag_records"] == 0)
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(r)) for r in caplog.records]
    messages = [line["msg"] for line in lines if line["logger"].startswith("basewatch")]
    for expected in (
        "ingest started",
        "ingest stopping",
        "ingest stopped",
        "projector started",
        "partitions assigned",
        "projector stopping",
        "projector stopped",
    ):
        assert expected in messages, expected
    line = json.loads(formatter.format(dead))
    assert line["topic"] == topics.customers
    assert isinstance(line["partition"], int) and line["offset"] == 0
    assert secret not in caplog.text and all(secret not in json.dumps(x) for x in lines)

"""A stretch without records, on SQLite and PostgreSQL: the recorder samples its first
boundaries one by one, then crosses the rest in steps that stop at each week's and
month's last boundary, and the sweeps of those samples run without a query once the
partition's deadline is known.

In the week and month going on, a sample whose next boundary is already past on the clock
(a later sample comes and overwrites them) leaves those periods' cohort cells to it:
catching up an hour of 5 s boundaries once counted every cohort 720 times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import TopicPartition
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.churn.schedule import Sweeper
from basewatch_projector.history import recorder as recording
from basewatch_projector.history.recorder import MAX_IDLE_BOUNDARIES, Recorder
from basewatch_projector.history.samples import settled_through
from basewatch_projector.metrics import Metrics
from basewatch_projector.rules.clock import PartitionPosition, Standing
from basewatch_projector.rules.policy import Policy
from basewatch_projector.storage.tables import cohort_cells, installations

H = timedelta(hours=1)
NOW = datetime(2026, 1, 20, 12, 30, tzinfo=UTC)
TOPIC = "t.telemetry"


def _recorder(engine: AsyncEngine, policy: Policy, signals: list[Any]) -> Recorder:
    """A recorder of hourly boundaries, with its sweeper, its signals into ``signals``."""
    sweeper = Sweeper(
        engine, policy=policy, loyal_min_orders=2, every=H, ingest_delay=timedelta(0),
        telemetry_topic=TOPIC, metrics=Metrics(), on_signals=signals.extend,
    )  # fmt: skip
    return Recorder(engine, sweeper, telemetry_topic=TOPIC, interval=H, on_signals=signals.extend)


async def test_an_idle_stretch_is_sampled_one_by_one_then_crossed_in_one_step(
    migrated: AsyncEngine, statements: list[str]
) -> None:
    signals: list[Any] = []
    recorder = _recorder(
        migrated, Policy(at_risk_after=3 * H, churn_after=30 * H, hold_min=99), signals
    )
    first = datetime(2026, 1, 10, tzinfo=UTC)  # 252 boundaries before NOW passed
    recorder.pending = first
    tp = TopicPartition(TOPIC, 0)
    # Caught up (nothing left to apply), as the broker said at NOW.
    position = PartitionPosition(committed=0, end=0, end_reported_at=NOW)
    standing = Standing(owned={tp}, positions={tp: position}, held={}, now=NOW)

    assert await recorder.tick(standing)

    last = datetime(2026, 1, 20, 12, tzinfo=UTC)  # the last boundary passed (grace: 1 s)
    async with migrated.connect() as conn:
        assert await settled_through(conn) == last
    assert recorder.pending == last + H
    claims = [sql for sql in statements if sql.startswith("UPDATE history_progress SET settled")]
    # One claim per sample (the first finds no row and inserts it): the first boundaries
    # one by one (to 01-14 03:00), then a step to the week's last (01-19 00:00), then
    # one to the last passed.
    assert len(claims) == MAX_IDLE_BOUNDARIES + 2
    # Only the first sample swept with queries (no installation: no deadline, ever).
    sweeps = [sql for sql in statements if "FROM installations" in sql and "silent_since" in sql]
    assert 0 < len(sweeps) <= 2
    assert position.swept_to == last
    assert signals == []
    # Nothing more has passed: the next tick samples nothing.
    assert not await recorder.tick(standing)


# A Tuesday; the recorder starts at this week's second boundary (Monday 01:00).
GOING_ON = datetime(2026, 1, 20, 12, 30, tzinfo=UTC)
FROM_MONDAY = datetime(2026, 1, 19, 1, tzinfo=UTC)
INSTALLED = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


async def _going_on(engine: AsyncEngine) -> Recorder:
    """One installation in use since 01-05; a recorder due at FROM_MONDAY."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(installations).values(
                installation_id="i1", product_id="p1", status="active", attr_times={},
                installed_at=INSTALLED, first_seen_at=INSTALLED, status_changed_at=INSTALLED,
                updated_at=INSTALLED, last_heartbeat_at=GOING_ON - H,
            )
        )  # fmt: skip
    recorder = _recorder(engine, Policy(at_risk_after=30 * H, churn_after=60 * H), [])
    recorder.pending = FROM_MONDAY
    return recorder


def _caught_up() -> Standing:
    tp = TopicPartition(TOPIC, 0)
    position = PartitionPosition(committed=0, end=0, end_reported_at=GOING_ON)
    return Standing(owned={tp}, positions={tp: position}, held={}, now=GOING_ON)


async def _cells(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        c = cohort_cells.c
        return sorted(await conn.execute(select(c.period, c.at, c.cohort, c.size, c.value)))


# In each period's column, the cohort of the week and of the month of 01-05 (one
# installation in use), in all and for its product.
CELLS = sorted(
    [("week", "2026-01-19", "2026-01-05", 1, 1)] * 2
    + [("month", "2026-01-01", "2026-01-01", 1, 1)] * 2
)


def _counted(statements: list[str]) -> int:
    return sum(sql.startswith("DELETE FROM cohort_cells") for sql in statements)


async def test_a_catch_up_in_the_period_going_on_counts_the_cohorts_at_its_last_sample(
    migrated: AsyncEngine, statements: list[str]
) -> None:
    recorder = await _going_on(migrated)
    statements.clear()

    assert await recorder.tick(_caught_up())

    assert recorder.pending == datetime(2026, 1, 20, 13, tzinfo=UTC)
    claims = [sql for sql in statements if sql.startswith("UPDATE history_progress SET settled")]
    assert len(claims) == 36  # Monday 01:00 to Tuesday 12:00
    assert _counted(statements) == 2  # the week's cells and the month's, once (72 before)
    assert await _cells(migrated) == CELLS


async def test_a_catch_up_cut_short_leaves_the_cells_to_the_next_tick(
    migrated: AsyncEngine, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a stop between two samples does: the tick's last sample is not the latest.
    monkeypatch.setattr(recording, "MAX_BOUNDARIES_PER_TICK", 10)
    recorder = await _going_on(migrated)
    statements.clear()

    assert await recorder.tick(_caught_up())
    assert recorder.pending == FROM_MONDAY + 10 * H
    assert _counted(statements) == 0 and await _cells(migrated) == []

    for _ in range(3):  # 10, 10, then the last 6 and their cells
        assert await recorder.tick(_caught_up())
    assert recorder.pending == datetime(2026, 1, 20, 13, tzinfo=UTC)
    assert _counted(statements) == 2
    assert await _cells(migrated) == CELLS

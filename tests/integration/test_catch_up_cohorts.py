"""A recorder catching up in the week and month going on counts the cohorts once, at the
latest boundary, on SQLite and PostgreSQL.

Each sample in a period overwrites that period's cells, so a sample whose next boundary
is already past on the clock (a later sample comes) leaves the period going on to it.
Catching up an hour of 5 s boundaries once counted every cohort 720 times.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.churn.schedule import Sweeper
from basewatch_projector.history.recorder import Recorder, Standing
from basewatch_projector.metrics import Metrics
from basewatch_projector.rules.clock import PartitionPosition
from basewatch_projector.rules.policy import Policy
from basewatch_projector.storage.tables import cohort_cells, installations

H = timedelta(hours=1)
NOW = datetime(2026, 1, 20, 12, 30, tzinfo=UTC)  # a Tuesday
TOPIC = "t.telemetry"


async def test_a_catch_up_in_the_period_going_on_counts_the_cohorts_at_its_last_sample(
    migrated: AsyncEngine, statements: list[str]
) -> None:
    async with migrated.begin() as conn:
        installed = datetime(2026, 1, 5, tzinfo=UTC)
        await conn.execute(
            insert(installations).values(
                installation_id="i1", product_id="p1", status="active", attr_times={},
                installed_at=installed, first_seen_at=installed, status_changed_at=installed,
                updated_at=installed, last_heartbeat_at=NOW - H,
            )
        )  # fmt: skip
    policy = Policy(at_risk_after=30 * H, churn_after=60 * H, hold_min=99)
    signals: list[Any] = []
    sweeper = Sweeper(
        migrated, policy=policy, loyal_min_orders=2, every=H, ingest_delay=timedelta(0),
        telemetry_topic=TOPIC, metrics=Metrics(), on_signals=signals.extend,
    )  # fmt: skip
    recorder = Recorder(
        migrated, sweeper, telemetry_topic=TOPIC, interval=H, on_signals=signals.extend
    )
    recorder.pending = datetime(2026, 1, 19, 1, tzinfo=UTC)  # this week's second boundary
    tp = TopicPartition(TOPIC, 0)
    position = PartitionPosition(committed=0, end=0, end_reported_at=NOW)
    statements.clear()

    assert await recorder.tick(Standing(owned={tp}, positions={tp: position}, held={}, now=NOW))

    assert recorder.pending == datetime(2026, 1, 20, 13, tzinfo=UTC)
    claims = [sql for sql in statements if sql.startswith("UPDATE history_progress SET settled")]
    assert len(claims) == 36  # Monday 01:00 to Tuesday 12:00
    # The cells of the week and of the month going on, counted once each (72 before).
    counted = [sql for sql in statements if sql.startswith("DELETE FROM cohort_cells")]
    assert len(counted) == 2
    async with migrated.connect() as conn:
        c = cohort_cells.c
        cells = (await conn.execute(select(c.period, c.at, c.cohort, c.size, c.value))).all()
    # In each period's column, the cohort of the week and of the month of 01-05 (one
    # installation in use), in all and for its product.
    week, month = ("week", "2026-01-19", "2026-01-05"), ("month", "2026-01-01", "2026-01-01")
    assert sorted(cells) == sorted([(*week, 1, 1)] * 2 + [(*month, 1, 1)] * 2)

"""A stretch without records, on SQLite and PostgreSQL: the recorder samples its first
boundaries one by one, then crosses the rest in steps that stop at each week's and
month's last boundary, and the sweeps of those samples run without a query once the
partition's deadline is known."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.churn.schedule import Sweeper
from basewatch_projector.history.recorder import MAX_IDLE_BOUNDARIES, Recorder, Standing
from basewatch_projector.history.samples import settled_through
from basewatch_projector.metrics import Metrics
from basewatch_projector.rules.clock import PartitionPosition
from basewatch_projector.rules.policy import Policy

H = timedelta(hours=1)
NOW = datetime(2026, 1, 20, 12, 30, tzinfo=UTC)
TOPIC = "t.telemetry"


async def test_an_idle_stretch_is_sampled_one_by_one_then_crossed_in_one_step(
    migrated: AsyncEngine, statements: list[str]
) -> None:
    policy = Policy(at_risk_after=3 * H, churn_after=30 * H, hold_min=99)
    signals: list[Any] = []
    sweeper = Sweeper(
        migrated, policy=policy, loyal_min_orders=2, every=H, ingest_delay=timedelta(0),
        telemetry_topic=TOPIC, metrics=Metrics(), on_signals=signals.extend,
    )  # fmt: skip
    recorder = Recorder(
        migrated, sweeper, telemetry_topic=TOPIC, interval=H, on_signals=signals.extend
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

"""The sweep at each history boundary, on SQLite and PostgreSQL: when no deadline of a
partition can be due by the boundary's clock (its lower bound is later), the clock moves
on without a query; when one can, the sweep runs and applies it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.churn.schedule import Sweeper
from basewatch_projector.metrics import Metrics
from basewatch_projector.projection.apply import apply_records
from basewatch_projector.rules.clock import PartitionPosition
from basewatch_projector.rules.policy import Policy
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record

T0 = datetime(2026, 1, 5, tzinfo=UTC)
H = timedelta(hours=1)
POLICY = Policy(at_risk_after=3 * H, churn_after=30 * H, hold_min=99)
TOPIC = "t.telemetry"


async def test_a_boundary_before_every_deadline_moves_the_clock_without_a_query(
    migrated: AsyncEngine, statements: list[str]
) -> None:
    install = {"type": "install", "event_id": "e1", "installation_id": "i1",
               "customer_id": "c1", "product_id": "p1", "version": "1",
               "occurred_at": T0.isoformat()}  # fmt: skip
    record = Record(event=EVENT_ADAPTER.validate_python(install), received_at=T0, source="t")
    async with migrated.begin() as conn:
        await apply_records(
            conn, [record], loyal_min_orders=2, policy=POLICY, now=T0, partitions={"i1": 0}
        )
    sweeper = Sweeper(
        migrated, policy=POLICY, loyal_min_orders=2, every=H, ingest_delay=timedelta(0),
        telemetry_topic=TOPIC, metrics=Metrics(), on_signals=lambda rows: None,
    )  # fmt: skip
    position = PartitionPosition()
    positions = {(TOPIC, 0): position}

    async def at_boundary(clock: datetime) -> list[dict[str, Any]]:
        """The recorder's sweep on ``clock``; the statements it ran are left in place."""
        statements.clear()
        async with migrated.begin() as conn:
            result = await sweeper.sweep(conn, positions, [0], clock, clock)
        sweeper.settle(positions, result)
        assert position.swept_to == clock
        return result.signals

    # The first sweep since the partition was assigned: its deadline is not known yet.
    assert await at_boundary(T0 + H) == []
    assert any("installations" in sql for sql in statements)
    assert position.deadline == T0 + 3 * H  # i1's at_risk deadline, from the database
    # Before it: nothing can be due, no query; the deadline stays what it was.
    assert await at_boundary(T0 + 2 * H) == []
    assert [sql for sql in statements if "installations" in sql] == []
    assert position.deadline == T0 + 3 * H
    # At it: the sweep runs and moves i1 to at_risk, dated at the deadline.
    moved = await at_boundary(T0 + 3 * H)
    assert [(s["kind"], s["installation_id"], s["occurred_at"]) for s in moved] == [
        ("installation.at_risk", "i1", T0 + 3 * H)
    ]
    assert position.deadline == T0 + 30 * H  # its churn deadline, next

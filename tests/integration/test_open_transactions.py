"""A running projector leaves no transaction open between its pieces of work.

A session idle in transaction keeps its snapshot, and PostgreSQL can then prune or
vacuum no row version that died after it began: every heartbeat's update leaves one
more behind, for as long as the session lasts. The outbox's lock did this for the
projector's whole life (found with ``pg_stat_activity`` during ``bench.projector``);
this runs every part at once (applying, the history sampler, the churn sweep and the
outbox publishing what it signalled) and waits for a moment with none open.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_projector.storage.engine import IDLE_IN_TRANSACTION, application_name
from basewatch_projector.storage.tables import history_progress, signals
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.kafka import produce
from tests.support.polling import eventually
from tests.support.services import serve
from tests.support.timeline import record_at


async def _published_and_sampled(engine: AsyncEngine) -> tuple[int, bool]:
    """Signals published to the topic, and whether the sampler has recorded a boundary."""
    async with engine.connect() as conn:
        published = await conn.scalar(
            select(func.count()).select_from(signals).where(signals.c.published_at.is_not(None))
        )
        sampled = (await conn.execute(select(history_progress))).first() is not None
    return int(published or 0), sampled


async def _ours(engine: AsyncEngine) -> list[tuple[str, str, str]]:
    """The other sessions of this schema: application name, state and last statement.

    Sessions of other schemas (other tests running beside this one) carry another
    application name."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT application_name, state, left(query, 80) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND application_name = current_setting('application_name')"
            )
        )
        return [(row[0], row[1], row[2]) for row in rows]


def _idle_in_transaction(sessions: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    return [s for s in sessions if (s[1] or "").startswith("idle in transaction")]


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_running_projector_leaves_no_transaction_open(
    migrated: AsyncEngine,
    projector_settings: Callable[..., Settings],
    kafka_bootstrap: str,
    topics: Topics,
    database: TestDatabase,
) -> None:
    # hold_min_transitions: one of two installations churning is no outage to hold for.
    settings = projector_settings(
        history_interval="1s",
        sweep_interval="1s",
        at_risk_after="3d",
        churn_after="14d",
        hold_min_transitions=1000,
    )
    now = datetime.now(UTC)
    # Installed a month ago, received now and silent since: churned at the first sweep,
    # a signal; and an installation in use beside it.
    install = {"event_id": "i1", "type": "install", "installation_id": "a"}
    install |= {"customer_id": "c1", "product_id": "p1", "version": "1"}
    heartbeat = {"event_id": "h1", "type": "heartbeat", "installation_id": "b"}
    records = [
        record_at("telemetry", "a", install, now - timedelta(days=30), received=now),
        record_at("telemetry", "b", heartbeat, now),
    ]
    async with serve(create_app(settings)):
        await produce(kafka_bootstrap, topics, records)
        await eventually(
            lambda: _published_and_sampled(migrated),
            lambda state: state[0] >= 1 and state[1],
            within=30,
        )
        # The filter sees the projector's sessions, and by name only this schema's.
        names = {name for name, _, _ in await _ours(migrated)}
        assert names == {application_name(database.schema)}
        # The old outbox: [(..., "idle in transaction", "SELECT pg_try_advisory_lock($1)")],
        # for as long as it ran.
        await eventually(lambda: _ours(migrated), lambda ours: not _idle_in_transaction(ours))


@pytest.mark.parametrize("database", ["postgresql"], indirect=True)
async def test_a_session_left_idle_in_a_transaction_is_ended_by_the_server(
    database: TestDatabase,
) -> None:
    # The test above finds no such session today; this bounds the harm of a future one.
    engine = database.engine()
    try:
        async with engine.begin() as conn:
            setting = await conn.scalar(text("SHOW idle_in_transaction_session_timeout"))
    finally:
        await engine.dispose()
    assert setting == IDLE_IN_TRANSACTION == "5min"

"""Signals exact in the pipeline's own time (issue 15, item 3), on the real broker and
both databases.

One history: installation ``gap`` falls silent past both thresholds, then its next
heartbeat comes; ``edge``'s next heartbeat is received exactly at its at_risk deadline;
``steady`` heartbeats all along; all are uninstalled at the end. It is
sent live (each record at its receive time, the projector running), then replayed from
offset 0 into an empty database, where the whole history is one backlog that holds
``gap``'s next heartbeat after both its deadlines. Both runs must give the same signals,
each dated at the deadline or at the event that caused it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_projector.storage.migrate import migrate
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.history import Out
from tests.support.kafka import produce
from tests.support.polling import eventually
from tests.support.services import serve
from tests.support.tables import applied_offsets
from tests.support.timeline import Signal, purchase, record_at, stored, telemetry_at

SHORT = {"at_risk_after": "2s", "churn_after": "4s", "hold_min_transitions": 1000}
S = timedelta(seconds=1)
SIGNALS = 13  # how many the history makes


def history(t: datetime) -> list[tuple[datetime, Out]]:
    """(receive time, record), in time order: ``gap`` silent from t+1 s to t+7 s."""
    out = []
    for iid in ("gap", "edge", "steady"):
        out += [
            (t, record_at("customers", f"c-{iid}", purchase(iid), t)),
            telemetry_at("install", iid, 0, t),
        ]
    out += [telemetry_at("heartbeat", "gap", n, t + n * S) for n in (1, 7, 8)]
    # edge's next heartbeat is received exactly at its at_risk deadline: the deadline first.
    out += [telemetry_at("heartbeat", "edge", n, t + n * S) for n in (1, 3, 4, 5, 6, 7, 8)]
    out += [telemetry_at("heartbeat", "steady", n, t + n * S / 2) for n in range(1, 19)]
    out += [telemetry_at("uninstall", "gap", 0, t + 9 * S)]
    out += [telemetry_at("uninstall", "edge", 0, t + 9 * S)]
    out += [telemetry_at("uninstall", "steady", 0, t + 9.5 * S)]
    return sorted(out, key=lambda pair: pair[0])


def expected(t: datetime) -> list[Signal]:
    """gap: at_risk and churned at their deadlines (silent since t+1 s), back at its
    heartbeat of t+7 s; its customer lapses at the churn and at the uninstall."""
    return sorted(
        [
            ("installation.at_risk", "gap", t + 3 * S),
            ("installation.churned", "gap", t + 5 * S),
            ("customer.lapsed", "c-gap", t + 5 * S),
            ("installation.reactivated", "gap", t + 7 * S),
            ("customer.reactivated", "c-gap", t + 7 * S),
            ("installation.uninstalled", "gap", t + 9 * S),
            ("customer.lapsed", "c-gap", t + 9 * S),
            ("installation.at_risk", "edge", t + 3 * S),
            ("installation.reactivated", "edge", t + 3 * S),
            ("installation.uninstalled", "edge", t + 9 * S),
            ("customer.lapsed", "c-edge", t + 9 * S),
            ("installation.uninstalled", "steady", t + 9.5 * S),
            ("customer.lapsed", "c-steady", t + 9.5 * S),
        ]
    )


async def _run(settings: Settings, engine: AsyncEngine, group: str, sent: int) -> list[Signal]:
    """Run a projector until it applied ``sent`` records and stored the signals."""
    async with serve(create_app(settings)):
        await eventually(lambda: applied_offsets(engine, group), lambda n: n == sent, within=60)
        await eventually(lambda: stored(engine), lambda s: len(s) >= SIGNALS, within=30)
    return await stored(engine)


async def test_signals_are_dated_at_deadlines_live_and_in_a_replayed_backlog_alike(
    migrated: AsyncEngine,
    another_database: TestDatabase,
    topics: Topics,
    kafka_bootstrap: str,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + 2 * S
    records = history(start)
    # Live: each record sent at its receive time while the projector runs.
    async with serve(create_app(projector_settings(**SHORT))):
        sent = 0
        for at, record in records:
            await asyncio.sleep(max(0.0, (at - datetime.now(UTC)).total_seconds()))
            sent += await produce(kafka_bootstrap, topics, [record])
        await eventually(lambda: applied_offsets(migrated, group_id), lambda n: n == sent)
        live = await eventually(lambda: stored(migrated), lambda s: len(s) >= SIGNALS, within=30)
    assert live == expected(start)
    # Replayed from offset 0 into an empty database: one backlog, the same signals.
    replay_engine = another_database.engine()
    try:
        await migrate(replay_engine)
        replay = projector_settings(
            **SHORT, **another_database.settings(), consumer_group=f"{group_id}-replay"
        )
        replayed = await _run(replay, replay_engine, f"{group_id}-replay", sent)
    finally:
        await replay_engine.dispose()
    assert replayed == live

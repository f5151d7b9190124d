"""The churn sweep: installations that went silent become at_risk, then churned (docs/signals.md).

Silence is judged on each telemetry partition's own clock (``rules/clock.py``), never on
the wall clock alone, so a projector working through a backlog does not churn
installations whose heartbeats are still waiting in that backlog. A sweep moves each
partition's clock from where its last sweep left it to a new time; every deadline in
between is applied as its own step, dated at the deadline (``rules/silence.py``), so the
signals do not depend on when the sweeps ran.

Which instance sweeps what: each instance sweeps only the installations of the
telemetry partitions assigned to it, inside the same lock that serializes its batches.
The owner of a partition is the only writer of its installations, so a transition is
decided once; the rows are also locked (PostgreSQL) and re-read in the sweep's own
transaction, so even a member that lost its partitions without noticing cannot apply a
transition the new owner already applied.

A sweep that would move more than ``hold_churn_above`` of a product's (or of all)
installations in use is held: that pattern is an outage of telemetry or of ingest, not
churn. An operator releases the hold with ``basewatch churn release``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.churn.deadlines import earliest_deadlines
from basewatch_projector.churn.guard import Move, guard
from basewatch_projector.projection.customers import lapse_times, refresh_customers
from basewatch_projector.projection.movements import Moves, add_pending
from basewatch_projector.projection.signals import store_signals
from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.signals import customer_signals, installation_kind, signal_row
from basewatch_projector.rules.silence import steps
from basewatch_projector.storage.bulk import any_of, upsert
from basewatch_projector.storage.tables import churn_control, installations
from basewatch_shared.contract.vocabulary import IN_USE, InstallationStatus

log = logging.getLogger("basewatch.projector.churn")


@dataclass
class SweepResult:
    """What one sweep did: transitions by kind, the held count, and the signal rows."""

    signals: list[dict[str, Any]] = field(default_factory=list)
    held: int = 0
    # Per partition swept: the earliest deadline of its installations still in use and
    # not held (rules/clock.py NEVER when none).
    deadlines: dict[int, datetime] = field(default_factory=dict)
    swept: dict[int, datetime] = field(default_factory=dict)  # the clock of each partition


# Per partition: (the clock its last sweep ran on, None if none since it was assigned;
# the clock to sweep it on now).
Clocks = Mapping[int, tuple[datetime | None, datetime]]


async def sweep(
    conn: AsyncConnection,
    *,
    clocks: Clocks,
    now: datetime,
    policy: Policy,
    loyal_min_orders: int,
    window: timedelta,
) -> SweepResult:
    """Apply the silence transitions of each partition in ``clocks`` up to its clock;
    the caller commits. ``window``: how close deadlines are one wave for the guard."""
    result = SweepResult()
    if not clocks:
        return result
    moves = await _due(conn, clocks, policy)
    if moves:
        moves, result.held = await guard(conn, moves, clocks.keys(), policy, now, window)
    if moves:
        await _transition(conn, moves, now, result)
        await _customers(conn, moves, now, (policy, loyal_min_orders), result)
    until = {p: to for p, (_, to) in clocks.items()}
    result.deadlines = await earliest_deadlines(conn, until, policy)
    return result


async def _due(conn: AsyncConnection, clocks: Clocks, policy: Policy) -> list[Move]:
    """The installations in use whose silence calls for another status by their
    partition's clock, and the steps there (rows locked and re-read on PostgreSQL: a
    decision is made once)."""
    i = installations.c
    silent = [
        and_(i.partition == p, i.silent_since <= to - policy.earliest())  # deadline <= clock
        for p, (_, to) in clocks.items()
    ]
    query = select(
        i.installation_id, i.customer_id, i.product_id, i.status, i.silent_since, i.partition
    ).where(i.status.in_(IN_USE), or_(*silent))
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    moves = []
    for row in await conn.execute(query):
        since, until = clocks[row.partition]
        path = steps(policy, row.status, row.silent_since, row.product_id, since, until)
        if path:
            moves.append((row, path))
    return moves


async def _transition(
    conn: AsyncConnection, moves: list[Move], now: datetime, result: SweepResult
) -> None:
    rows = []
    for status in (InstallationStatus.AT_RISK, InstallationStatus.CHURNED):
        ids = [row.installation_id for row, path in moves if path[-1][0] == status]
        if ids:
            await conn.execute(
                update(installations)
                .where(any_of(conn, installations.c.installation_id, ids))
                .values(status=status, status_changed_at=now, updated_at=now)
            )
    for row, path in moves:
        previous: str = row.status
        for step, deadline in path:
            kind = installation_kind(previous, step)
            assert kind is not None
            rows.append(
                signal_row(
                    kind,
                    previous=previous,
                    status=step,
                    occurred_at=deadline,
                    detected_at=now,
                    customer_id=row.customer_id,
                    installation=row,
                )
            )
            previous = step
    await store_signals(conn, rows)
    result.signals.extend(rows)


async def _customers(
    conn: AsyncConnection,
    moves: list[Move],
    now: datetime,
    context: tuple[Policy, int],
    result: SweepResult,
) -> None:
    """The owners' new statuses; a customer lapses when its last installation in use
    churned: when the last of its installations left use (rules/causes.py)."""
    policy, loyal_min_orders = context
    owners = {row.customer_id for row, _ in moves if row.customer_id}
    # The installations that left use (docs/tables.md, movements).
    moved: Moves = Counter(
        ("installations", "churned", row.product_id or "")
        for row, path in moves
        if path[-1][0] == InstallationStatus.CHURNED and row.status in IN_USE
    )
    changes = await refresh_customers(conn, owners, loyal_min_orders, now, moved)
    await add_pending(conn, moved)
    lapses = await lapse_times(conn, [cid for cid, _, _ in changes], policy)
    rows = customer_signals(changes, lambda cid, _: lapses.get(cid, now), now)
    await store_signals(conn, rows)
    result.signals.extend(rows)


async def release_hold(conn: AsyncConnection, until: datetime, now: datetime) -> None:
    """Let the next sweeps apply held transitions until ``until``."""
    await upsert(
        conn,
        churn_control,
        [{"id": 1, "hold_released_until": until, "updated_at": now}],
        ["id"],
        ["hold_released_until", "updated_at"],
    )

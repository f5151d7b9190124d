"""The churn sweep: installations that went silent become at_risk, then churned (docs/signals.md).

Silence is judged on the pipeline's own clock (``rules/clock.py``), never on the wall
clock alone, so a projector working through a backlog does not churn installations
whose heartbeats are still waiting in that backlog.

Which instance sweeps what: each instance sweeps only the installations of the
telemetry partitions assigned to it, inside the same lock that serializes its batches.
The owner of a partition is the only writer of its installations, so a transition is
decided once; the rows are also locked (PostgreSQL) and re-read in the sweep's own
transaction, so even a member that lost its partitions without noticing cannot apply a
transition the new owner already applied. No timer state lives in memory: silence is
derived from stored timestamps at every sweep.

A sweep that would move more than ``hold_churn_above`` of a product's (or of all)
installations in use is held: that pattern is an outage of telemetry or of ingest, not
churn. An operator releases the hold with ``basewatch churn release``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.projection.customers import refresh_customers
from basewatch_projector.projection.movements import Moves, add_pending
from basewatch_projector.projection.signals import store_signals
from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.signals import customer_signals, installation_kind, signal_row
from basewatch_projector.storage.bulk import any_of, upsert
from basewatch_projector.storage.tables import churn_control, installations
from basewatch_shared.contract.vocabulary import IN_USE, InstallationStatus

log = logging.getLogger("basewatch.projector.churn")


@dataclass
class SweepResult:
    """What one sweep did: transitions by kind, the held count, and the signal rows."""

    signals: list[dict[str, Any]] = field(default_factory=list)
    held: int = 0
    clock: datetime | None = None


async def sweep(
    conn: AsyncConnection,
    *,
    partitions: Collection[int],
    clock: datetime,
    now: datetime,
    policy: Policy,
    loyal_min_orders: int,
) -> SweepResult:
    """Apply the silence transitions of ``partitions`` on ``clock``; the caller commits."""
    result = SweepResult(clock=clock)
    if not partitions:
        return result
    moves = await _due(conn, partitions, clock, policy)
    if not moves:
        return result
    moves, result.held = await _guard(conn, moves, partitions, policy, now)
    if not moves:
        return result
    await _transition(conn, moves, clock, now, result)
    owners = {row.customer_id for row, _ in moves if row.customer_id}
    moved: Moves = Counter(
        ("installations", "churned", row.product_id or "")
        for row, target in moves
        if target == InstallationStatus.CHURNED and row.status in IN_USE
    )
    changes = await refresh_customers(conn, owners, loyal_min_orders, now, moved)
    await add_pending(conn, moved)
    customer_rows = customer_signals(changes, clock, now)
    await store_signals(conn, customer_rows)
    result.signals.extend(customer_rows)
    return result


async def _due(
    conn: AsyncConnection, partitions: Collection[int], clock: datetime, policy: Policy
) -> list[tuple[Any, str]]:
    """The installations in use whose silence on ``clock`` calls for another status, and
    that status (rows locked and re-read on PostgreSQL: a decision is made once)."""
    i = installations.c
    query = select(i.installation_id, i.customer_id, i.product_id, i.status, i.silent_since).where(
        any_of(conn, i.partition, partitions),
        i.status.in_(IN_USE),
        i.silent_since < clock - policy.earliest(),
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    moves = []
    for row in await conn.execute(query):
        target = policy.target(row.status, clock - row.silent_since, row.product_id)
        if target != row.status:
            moves.append((row, target))
    return moves


async def _transition(
    conn: AsyncConnection,
    moves: list[tuple[Any, str]],
    clock: datetime,
    now: datetime,
    result: SweepResult,
) -> None:
    rows = []
    for status in (InstallationStatus.AT_RISK, InstallationStatus.CHURNED):
        ids = [row.installation_id for row, t in moves if t == status]
        if ids:
            await conn.execute(
                update(installations)
                .where(any_of(conn, installations.c.installation_id, ids))
                .values(status=status, status_changed_at=now, updated_at=now)
            )
    for row, target in moves:
        kind = installation_kind(row.status, target)
        assert kind is not None
        rows.append(
            signal_row(
                kind,
                previous=row.status,
                status=target,
                occurred_at=clock,
                detected_at=now,
                customer_id=row.customer_id,
                installation=row,
            )
        )
    await store_signals(conn, rows)
    result.signals.extend(rows)


async def _guard(
    conn: AsyncConnection,
    moves: list[tuple[Any, str]],
    partitions: Collection[int],
    policy: Policy,
    now: datetime,
) -> tuple[list[tuple[Any, str]], int]:
    """Hold the transitions of a product (or all) that look like an outage, not churn."""
    released = await conn.scalar(select(churn_control.c.hold_released_until))
    if released is not None and released > now:
        return moves, 0
    population = await _in_use_by_product(conn, partitions)
    leaving = Counter(row.product_id for row, _ in moves)
    total_in_use = sum(population.values())
    if policy.mass(len(moves), total_in_use):
        held_products = set(leaving)
    else:
        held_products = {p for p, n in leaving.items() if policy.mass(n, population.get(p, 0))}
    kept = [(row, t) for row, t in moves if row.product_id not in held_products]
    held = len(moves) - len(kept)
    if held:
        log.error(
            "churn transitions held: mass silence looks like an outage",
            extra={
                "held": held,
                "products": sorted(str(p) for p in held_products),
                "in_use": total_in_use,
                "partitions": sorted(partitions),
            },
        )
    return kept, held


async def _in_use_by_product(
    conn: AsyncConnection, partitions: Collection[int]
) -> dict[str | None, int]:
    """How many installations of ``partitions`` are in use, per product."""
    i = installations.c
    rows = await conn.execute(
        select(i.product_id, func.count())
        .where(any_of(conn, i.partition, partitions), i.status.in_(IN_USE))
        .group_by(i.product_id)
    )
    return {product: int(n) for product, n in rows}


async def release_hold(conn: AsyncConnection, until: datetime, now: datetime) -> None:
    """Let the next sweeps apply held transitions until ``until``."""
    await upsert(
        conn,
        churn_control,
        [{"id": 1, "hold_released_until": until, "updated_at": now}],
        ["id"],
        ["hold_released_until", "updated_at"],
    )

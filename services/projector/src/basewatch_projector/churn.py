"""The churn sweep: installations that went silent become at_risk, then churned (docs/signals.md).

Silence is judged on the pipeline's own clock (``churn_clock``), never on the wall
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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector import store
from basewatch_projector.bulk import any_of
from basewatch_projector.projection import ACTIVE, AT_RISK, CHURNED, IN_USE
from basewatch_projector.signals import customer_signals, installation_kind, store_signals
from basewatch_projector.tables import churn_control, installations

log = logging.getLogger("basewatch.projector.churn")


@dataclass(frozen=True)
class Policy:
    """Thresholds (default and per product) and the mass-silence guard."""

    at_risk_after: timedelta
    churn_after: timedelta
    per_product: Mapping[str, tuple[timedelta, timedelta]] = field(default_factory=dict)
    hold_above: float = 0.5
    hold_min: int = 10

    def thresholds(self, product_id: str | None) -> tuple[timedelta, timedelta]:
        """(at_risk_after, churn_after) for a product."""
        return self.per_product.get(product_id or "", (self.at_risk_after, self.churn_after))

    def target(self, status: str, silent_for: timedelta, product_id: str | None) -> str:
        """The status that ``silent_for`` of silence calls for (never a step back)."""
        at_risk, churned = self.thresholds(product_id)
        if silent_for >= churned:
            return CHURNED
        if silent_for >= at_risk and status == ACTIVE:
            return AT_RISK
        return status


def churn_clock(
    positions: Mapping[Any, Any], now: datetime, partitions: Collection[Any]
) -> datetime | None:
    """The minimum over ``partitions`` of: now if caught up, else the received_at of the
    last record applied there. None while a partition's position is unknown."""
    times = []
    for tp in partitions:
        position = positions.get(tp)
        if position is None or position.records is None:
            return None
        if position.records == 0:
            times.append(now)
        elif position.last_received_at is None:
            return None  # behind, and nothing applied yet: the backlog is unknown
        else:
            times.append(position.last_received_at)
    return min(times, default=None)


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
    i = installations.c
    earliest = min([policy.at_risk_after, *(a for a, _ in policy.per_product.values())])
    query = select(i.installation_id, i.customer_id, i.product_id, i.status, i.silent_since).where(
        any_of(conn, i.partition, partitions),
        i.status.in_(IN_USE),
        i.silent_since < clock - earliest,
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    moves = []
    for row in await conn.execute(query):
        target = policy.target(row.status, clock - row.silent_since, row.product_id)
        if target != row.status:
            moves.append((row, target))
    if not moves:
        return result
    moves, result.held = await _guard(conn, moves, partitions, policy, now)
    if not moves:
        return result
    await _transition(conn, moves, clock, now, result)
    owners = {row.customer_id for row, _ in moves if row.customer_id}
    changes = await store.refresh_customers(conn, owners, loyal_min_orders, now)
    customer_rows = customer_signals(changes, clock, now)
    await store_signals(conn, customer_rows)
    result.signals.extend(customer_rows)
    return result


async def _transition(
    conn: AsyncConnection,
    moves: list[tuple[Any, str]],
    clock: datetime,
    now: datetime,
    result: SweepResult,
) -> None:
    rows = []
    for target in (AT_RISK, CHURNED):
        ids = [row.installation_id for row, t in moves if t == target]
        if ids:
            await conn.execute(
                update(installations)
                .where(any_of(conn, installations.c.installation_id, ids))
                .values(status=target, status_changed_at=now, updated_at=now)
            )
    for row, target in moves:
        kind = installation_kind(row.status, target)
        assert kind is not None
        rows.append(
            {
                "kind": kind,
                "installation_id": row.installation_id,
                "customer_id": row.customer_id,
                "product_id": row.product_id,
                "previous_status": row.status,
                "status": target,
                "occurred_at": clock,
                "detected_at": now,
                "silent_since": row.silent_since,
            }
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
    i = installations.c
    rows = await conn.execute(
        select(i.product_id, func.count())
        .where(any_of(conn, i.partition, partitions), i.status.in_(IN_USE))
        .group_by(i.product_id)
    )
    population: dict[str | None, int] = {product: int(n) for product, n in rows}
    leaving = Counter(row.product_id for row, _ in moves)
    total_in_use = sum(population.values())

    def mass(count: int, of: int) -> bool:
        return count >= policy.hold_min and of > 0 and count / of > policy.hold_above

    if mass(len(moves), total_in_use):
        held_products = set(leaving)
    else:
        held_products = {p for p, n in leaving.items() if mass(n, population.get(p, 0))}
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


async def release_hold(conn: AsyncConnection, until: datetime, now: datetime) -> None:
    """Let the next sweeps apply held transitions until ``until``."""
    await store.upsert_control(conn, until, now)

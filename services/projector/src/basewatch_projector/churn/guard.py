"""The mass-silence guard: transitions that look like an outage of telemetry or of
ingest, not churn, are held (docs/signals.md).

Each partition is swept on its own clock, and a sweep runs whenever one partition
reaches a deadline, so one sweep may see only part of a wave of silence that the other
partitions reach a moment later. The guard therefore weighs the wave: the transitions
due now, and the installations in use of every owned partition whose deadline falls
within ``window`` after the earliest of them.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, not_, or_, select, true
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.silence import Step
from basewatch_projector.storage.bulk import any_of
from basewatch_projector.storage.tables import churn_control, installations
from basewatch_shared.contract.vocabulary import IN_USE, InstallationStatus

log = logging.getLogger("basewatch.projector.churn")
Move = tuple[Any, list[Step]]  # an installation's row, and its steps


async def guard(
    conn: AsyncConnection,
    moves: list[Move],
    partitions: Collection[int],
    policy: Policy,
    now: datetime,
    window: timedelta,
) -> tuple[list[Move], int]:
    """Hold the transitions of a product (or all) that look like an outage, not churn."""
    released = await conn.scalar(select(churn_control.c.hold_released_until))
    if released is not None and released > now:
        return moves, 0
    population = await _in_use_by_product(conn, partitions)
    leaving = Counter(row.product_id for row, _ in moves)
    start = min(path[0][1] for _, path in moves)
    moving = [row.installation_id for row, _ in moves]
    leaving += await _due_soon(conn, partitions, policy, (start, start + window), moving)
    total_in_use = sum(population.values())
    if policy.mass(sum(leaving.values()), total_in_use):
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


async def _due_soon(
    conn: AsyncConnection,
    partitions: Collection[int],
    policy: Policy,
    between: tuple[datetime, datetime],
    moving: list[str],
) -> Counter[str | None]:
    """Per product, the installations in use (not ``moving``) whose next deadline falls
    ``between`` the two times."""
    i = installations.c
    named = list(policy.per_product)
    classes: list[tuple[Any, tuple[timedelta, timedelta]]] = [
        (i.product_id == p, policy.per_product[p]) for p in named
    ]
    others = or_(i.product_id.is_(None), not_(i.product_id.in_(named))) if named else true()
    classes.append((others, (policy.at_risk_after, policy.churn_after)))
    start, end = between
    wave = [
        and_(
            which,
            i.status == status,
            i.silent_since >= start - after,
            i.silent_since <= end - after,
        )
        for which, (at_risk, churned) in classes
        for status, after in (
            (InstallationStatus.ACTIVE, at_risk),
            (InstallationStatus.AT_RISK, churned),
        )
    ]
    query = select(i.product_id, func.count()).where(
        any_of(conn, i.partition, partitions), or_(*wave)
    )
    if moving:
        query = query.where(not_(any_of(conn, i.installation_id, moving)))
    rows = await conn.execute(query.group_by(i.product_id))
    return Counter({product: int(n) for product, n in rows})


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

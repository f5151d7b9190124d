"""Each partition's earliest silence deadline, read exactly after a sweep.

The consume loop keeps it in memory (``PartitionPosition.deadline``) as a lower bound,
lowered by what each batch touches, and cuts a batch where a partition's clock would
pass it (``churn/cut.py``): only then, or on the periodic schedule, does it sweep.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.rules.clock import NEVER
from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.silence import next_deadline
from basewatch_projector.storage.bulk import any_of
from basewatch_projector.storage.tables import installations
from basewatch_shared.contract.vocabulary import IN_USE


async def earliest_deadlines(
    conn: AsyncConnection, until: Mapping[int, datetime], policy: Policy
) -> dict[int, datetime]:
    """Per partition, the earliest deadline after its clock ``until[p]`` of its
    installations in use (NEVER if none): those due by then were moved or held."""
    if not until:
        return {}
    i = installations.c
    groups = await conn.execute(
        select(i.partition, i.product_id, i.status, func.min(i.silent_since))
        .where(any_of(conn, i.partition, until), i.status.in_(IN_USE))
        .group_by(i.partition, i.product_id, i.status)
    )
    earliest = dict.fromkeys(until, NEVER)
    for partition, product, status, first in groups.all():
        deadline = next_deadline(policy, status, first, product)
        if deadline is not None and deadline <= until[partition]:  # held: look past them
            deadline = await _after(conn, policy, partition, product, status, until[partition])
        if deadline is not None:
            earliest[partition] = min(earliest[partition], deadline)
    return earliest


async def _after(
    conn: AsyncConnection,
    policy: Policy,
    partition: int,
    product: str | None,
    status: str,
    clock: datetime,
) -> datetime | None:
    """The earliest deadline after ``clock`` among one group's installations."""
    i = installations.c
    threshold = next_deadline(policy, status, clock, product)
    assert threshold is not None  # an in-use status has a deadline
    first = await conn.scalar(
        select(func.min(i.silent_since)).where(
            i.partition == partition,
            i.product_id.is_(None) if product is None else i.product_id == product,
            i.status == status,
            i.silent_since > clock - (threshold - clock),
        )
    )
    return None if first is None else next_deadline(policy, status, first, product)

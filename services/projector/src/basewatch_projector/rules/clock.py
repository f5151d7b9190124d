"""The pipeline's clock: where each partition stands, and the churn clock derived from it.

Silence is judged on the pipeline's own clock, never on the wall clock alone, so a
projector working through a backlog does not churn installations whose heartbeats are
still waiting in that backlog.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class PartitionPosition:
    """One assigned partition: what is applied, what exists, and when it was received."""

    committed: int | None = None  # next offset to apply, as the database holds it
    end: int | None = None  # log end offset, from the last fetch response
    last_received_at: datetime | None = None  # of the last record applied
    last_occurred_at: datetime | None = None

    @property
    def records(self) -> int | None:
        """Records not yet applied, or None before the first fetch response."""
        if self.end is None:
            return None
        return max(0, self.end - (self.committed or 0))


def churn_clock(
    positions: Mapping[Any, PartitionPosition], now: datetime, partitions: Collection[Any]
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

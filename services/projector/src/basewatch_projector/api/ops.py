"""``/v1/ops/lag``: where this projector instance stands in each assigned partition.

The same numbers as the ``basewatch_projector_*offset*`` and ``*_lag_*`` gauges on
/metrics, read from the lag tracker at request time. Each instance reports only the
partitions assigned to it; with several replicas, ask each one (or use Prometheus,
which scrapes them all).
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from basewatch_projector.api.deps import State


class PartitionLag(BaseModel):
    """One assigned partition: what is applied, what exists, how far behind."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    committed_offset: int | None = Field(
        description="next offset to apply, as the database holds it; null before the first"
    )
    end_offset: int | None = Field(
        description="log end offset from the latest fetch response; null before the first"
    )
    lag_records: int | None = Field(description="end_offset - committed_offset")
    lag_seconds: float | None = Field(
        description="0 when caught up; while behind, wall time minus received_at of the "
        "last applied record; null while unknown"
    )
    last_received_at: datetime | None = Field(
        description="the latest received_at applied: the partition's stream time"
    )
    last_event_at: datetime | None = Field(description="occurred_at of the last applied")


class Lag(BaseModel):
    """The partitions this instance owns, and their lag added up."""

    model_config = ConfigDict(frozen=True)

    partitions: list[PartitionLag]
    lag_records: int = Field(description="the sum over the partitions with a known end")
    lag_seconds: float | None = Field(description="the largest known lag in seconds")


router = APIRouter(tags=["operations"])


@router.get("/ops/lag", response_model=Lag)
async def lag(state: State) -> Lag:
    """Per topic-partition: committed offset, end offset, lag in records and in seconds."""
    partitions = [PartitionLag.model_validate(row) for row in state.partitions()]
    seconds = [p.lag_seconds for p in partitions if p.lag_seconds is not None]
    return Lag(
        partitions=partitions,
        lag_records=sum(p.lag_records or 0 for p in partitions),
        lag_seconds=max(seconds) if seconds else None,
    )

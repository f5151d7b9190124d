"""The pipeline's clock: where each partition stands, and the time it has reached.

Silence is judged on each telemetry partition's own clock (docs/signals.md): an
installation's events all arrive on one partition, so its silence depends only on that
partition's progress. A partition's clock is its **stream time**, the latest
``received_at`` applied from it (a running maximum: a function of the log alone, so a
replay reaches the same times at the same records); once it is caught up, at least the
time the broker reported its log end minus the longest time ingest may take from
receipt to acknowledgement (records received before that were in the log the broker
reported, so applied). Not the wall clock now: a record acknowledged since that report
may have been received up to the ingest delay before it, and a loop that has not
fetched for a while would otherwise judge silent what waits on the broker.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiokafka import TopicPartition

# A partition with no installation in use has no deadline.
NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(slots=True)
class PartitionPosition:
    """One assigned partition: what is applied, what exists, and when it was received.

    A position is made anew when the partition is assigned, so what it remembers of the
    partition's deadlines never outlives this instance's ownership of it.
    """

    committed: int | None = None  # next offset to apply, as the database holds it
    end: int | None = None  # log end offset, from the last fetch response
    end_reported_at: datetime | None = None  # when that fetch response came
    last_received_at: datetime | None = None  # the stream time: the latest received_at applied
    last_occurred_at: datetime | None = None
    # A lower bound of the earliest silence deadline of the partition's installations in
    # use (None: not known yet), and the clock its last sweep ran on.
    deadline: datetime | None = None
    swept_to: datetime | None = None

    @property
    def records(self) -> int | None:
        """Records not yet applied, or None before the first fetch response."""
        if self.end is None:
            return None
        return max(0, self.end - (self.committed or 0))


@dataclass(frozen=True, slots=True)
class Standing:
    """Where this instance's partitions stand at one tick of the consume loop."""

    owned: Collection[TopicPartition]
    positions: Mapping[Any, PartitionPosition]
    held: Mapping[TopicPartition, datetime]  # receive time of the first held record
    now: datetime


def partition_clock(
    position: PartitionPosition, now: datetime, ingest_delay: timedelta
) -> datetime | None:
    """The partition's clock: its stream time; once caught up, at least the time its log
    end was reported (``now`` at the latest) minus ``ingest_delay``. None while it is
    behind with nothing applied (or never fetched)."""
    stream = position.last_received_at
    if position.records == 0:
        floor = caught_up_at(position, now) - ingest_delay
        return floor if stream is None else max(stream, floor)
    return stream if position.records is not None else None


def caught_up_at(position: PartitionPosition, now: datetime) -> datetime:
    """When a caught-up partition was last known to be caught up: when the broker
    reported the log end that is applied (``now`` at the latest)."""
    reported = position.end_reported_at
    return now if reported is None else min(now, reported)

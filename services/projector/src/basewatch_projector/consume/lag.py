"""Where the projector stands in each partition: consumer lag in records and in seconds.

The log end offset comes from fetch responses (``consumer.highwater``), which is what
Kafka's own ``records-lag`` metric uses and what the embedded broker answers
correctly. Lag in seconds, while behind, is wall time minus the ``received_at`` of the
last record applied from that partition; a partition that is caught up has no lag.

The consume thread moves the positions; the read API's thread reads them (``freshness``,
``snapshot``, ``export``): a lock keeps each read whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from basewatch_projector.consume.decode import Item
from basewatch_projector.metrics import Metrics
from basewatch_projector.rules.clock import PartitionPosition

TopicPartition = tuple[str, int]


class LagTracker:
    """Keeps the positions of the assigned partitions and exports them as gauges."""

    def __init__(self, metrics: Metrics, clock: Callable[[], datetime]) -> None:
        self._metrics = metrics
        self._clock = clock
        self._positions: dict[TopicPartition, PartitionPosition] = {}
        self._lock = threading.Lock()

    def assigned(self, offsets: dict[TopicPartition, int | None]) -> None:
        """Start tracking newly assigned partitions at their stored offsets."""
        with self._lock:
            for tp, offset in offsets.items():
                self._positions[tp] = PartitionPosition(committed=offset)

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        """Stop tracking partitions another member now owns, and drop their series."""
        with self._lock:
            for tp in partitions:
                if self._positions.pop(tp, None) is not None:
                    for gauge in self._metrics.partition_gauges:
                        gauge.remove(*map(str, tp))

    def note_applied(
        self, items: Sequence[Item], moves: Mapping[TopicPartition, tuple[Any, int]]
    ) -> None:
        """A batch of ``items`` committed and moved each partition as ``moves`` says."""
        last: dict[TopicPartition, datetime] = {}
        latest: dict[TopicPartition, datetime] = {}  # the stream time: a running maximum
        for item in items:
            if item.decoded is not None:
                tp, received = (item.raw.topic, item.raw.partition), item.decoded.received_at
                last[tp] = item.decoded.event.occurred_at
                latest[tp] = max(latest.get(tp, received), received)
        with self._lock:
            for tp, (_, new) in moves.items():
                self._applied(tp, new, latest.get(tp), last.get(tp))

    def _applied(
        self,
        tp: TopicPartition,
        next_offset: int,
        received: datetime | None,
        occurred: datetime | None,
    ) -> None:
        """``tp`` moved to ``next_offset``; ``received``: the latest receive time applied
        there (the stream time never goes back). The caller holds the lock."""
        position = self._positions.get(tp)
        if position is not None:
            position.committed = next_offset
            if received is not None:
                held = position.last_received_at
                position.last_received_at = received if held is None else max(held, received)
            position.last_occurred_at = occurred or position.last_occurred_at

    def fetched(self, tp: TopicPartition, end: int | None, at_ms: int | None) -> None:
        """Record the log end offset a fetch response reported, and when it came
        (``at_ms``: milliseconds since the epoch, aiokafka's ``last_poll_timestamp``)."""
        if end is None or end < 0 or at_ms is None:
            return
        with self._lock:
            position = self._positions.get(tp)
            if position is not None:
                position.end = end
                position.end_reported_at = datetime.fromtimestamp(at_ms / 1000, UTC)

    def seconds(self, position: PartitionPosition, now: datetime) -> float | None:
        """Lag in seconds: 0 when caught up; unknown until a record was applied."""
        if position.records == 0:
            return 0.0
        if position.last_received_at is None:
            return None
        return max(0.0, (now - position.last_received_at).total_seconds())

    def freshness(self) -> float | None:
        """The largest lag in seconds over the assigned partitions (None if unknown)."""
        now = self._clock()
        with self._lock:
            lags = [self.seconds(p, now) for p in self._positions.values()]
        known = [lag for lag in lags if lag is not None]
        return max(known) if known else None

    def caught_up(self, tp: TopicPartition) -> bool:
        """True when every record the broker reported for ``tp`` is applied."""
        position = self._positions.get(tp)
        return position is not None and position.records == 0

    def positions(self) -> dict[TopicPartition, PartitionPosition]:
        """The tracked partitions (a copy)."""
        with self._lock:
            return dict(self._positions)

    def export(self) -> None:
        """Set the per-partition gauges from the current positions."""
        now = self._clock()
        with self._lock:
            self._export(now)

    def _export(self, now: datetime) -> None:
        m = self._metrics
        for (topic, partition), pos in self._positions.items():
            labels: dict[str, Any] = {"topic": topic, "partition": str(partition)}
            if pos.committed is not None:
                m.committed_offset.labels(**labels).set(pos.committed)
            if pos.end is not None:
                m.end_offset.labels(**labels).set(pos.end)
            if pos.records is not None:
                m.lag_records.labels(**labels).set(pos.records)
            seconds = self.seconds(pos, now)
            if seconds is not None:
                m.lag_seconds.labels(**labels).set(seconds)
            if pos.last_occurred_at is not None:
                m.last_event_time.labels(**labels).set(pos.last_occurred_at.timestamp())

    def snapshot(self) -> list[dict[str, Any]]:
        """Per partition, what GET /v1/ops/lag returns."""
        now = self._clock()
        with self._lock:
            return self._snapshot(now)

    def _snapshot(self, now: datetime) -> list[dict[str, Any]]:
        return [
            {
                "topic": topic,
                "partition": partition,
                "committed_offset": pos.committed,
                "end_offset": pos.end,
                "lag_records": pos.records,
                "lag_seconds": self.seconds(pos, now),
                "last_received_at": pos.last_received_at,
                "last_event_at": pos.last_occurred_at,
            }
            for (topic, partition), pos in sorted(self._positions.items())
        ]

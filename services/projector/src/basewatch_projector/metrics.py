"""The projector's Prometheus metrics, in a registry of its own (one per app)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Counters and gauges the consume loop and the read API update."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.events = Counter(
            "basewatch_projector_events_total",
            "Records handled, by event type and outcome",
            ["type", "outcome"],
            registry=r,
        )
        self.batch_size = Histogram(
            "basewatch_projector_batch_records",
            "Records per applied batch",
            buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
            registry=r,
        )
        self.batch_seconds = Histogram(
            "basewatch_projector_batch_duration_seconds",
            "Time to apply one batch",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.rebalances = Counter(
            "basewatch_projector_rebalances_total", "Partition assignments received", registry=r
        )
        self.retries = Counter(
            "basewatch_projector_batch_retries_total",
            "Batches retried after an infrastructure error",
            registry=r,
        )
        self.lag_records = Gauge(
            "basewatch_projector_consumer_lag_records",
            "Records not yet applied",
            ["topic", "partition"],
            registry=r,
        )
        self.lag_seconds = Gauge(
            "basewatch_projector_consumer_lag_seconds",
            "Age of the oldest unapplied record",
            ["topic", "partition"],
            registry=r,
        )

    def observe_batch(self, items: Sequence[Any], seconds: float) -> None:
        """Count an applied batch: its size, duration and events by type."""
        self.batch_size.observe(len(items))
        self.batch_seconds.observe(seconds)
        counts: dict[str, int] = {}
        for item in items:
            if item.decoded is not None:
                kind = item.decoded.event.type
                counts[kind] = counts.get(kind, 0) + 1
        for kind, n in counts.items():
            self.events.labels(type=kind, outcome="applied").inc(n)

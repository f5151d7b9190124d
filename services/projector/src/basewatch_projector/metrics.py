"""The projector's Prometheus metrics, in a registry of its own (one per app)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Gauge, Histogram
from prometheus_client import Counter as CounterMetric

from basewatch_projector.rules.vocabulary import InstallationStatus
from basewatch_shared.records import Record

PREFIX = "basewatch_projector_"
PARTITION = ("topic", "partition")


class Metrics:
    """Counters and gauges the consume loop and the read API update."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._batches()
        self._partitions()
        self._churn()

    def _batches(self) -> None:
        self.events = self._counter(
            "events_total", "Records handled, by event type and outcome", "type", "outcome"
        )
        # Exported at 0 from the start, so that increase() sees the first dead letter.
        self.events.labels(type="unknown", outcome="dead_lettered")
        self.batch_size = self._histogram(
            "batch_records", "Records per applied batch", (1, 10, 100, 500, 1000, 2000, 5000, 10000)
        )
        self.batch_seconds = self._histogram(
            "batch_duration_seconds",
            "Time to apply one batch",
            (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.rebalances = self._counter("rebalances_total", "Partition assignments received")
        self.retries = self._counter(
            "batch_retries_total", "Batches retried after an infrastructure error"
        )

    def _partitions(self) -> None:
        self.committed_offset = self._gauge(
            "committed_offset", "Next offset to apply, as stored in the database", *PARTITION
        )
        self.end_offset = self._gauge(
            "log_end_offset", "Log end offset from the latest fetch response", *PARTITION
        )
        self.lag_records = self._gauge(
            "consumer_lag_records", "Records not yet applied", *PARTITION
        )
        self.lag_seconds = self._gauge(
            "consumer_lag_seconds",
            "While behind: wall time minus received_at of the last applied record",
            *PARTITION,
        )
        self.last_event_time = self._gauge(
            "last_event_timestamp_seconds",
            "occurred_at of the last applied event (unix time)",
            *PARTITION,
        )
        self.partition_gauges = (
            self.committed_offset,
            self.end_offset,
            self.lag_records,
            self.lag_seconds,
            self.last_event_time,
        )

    def _churn(self) -> None:
        self.signals = self._counter("signals_total", "Churn signals stored, by kind", "kind")
        self.installations = self._gauge(
            "installations", "Installations by status (as of the last sweep)", "status"
        )
        self.churn_clock_lag = self._gauge(
            "churn_clock_lag_seconds",
            "Wall clock minus the churn clock (how far behind silence is judged)",
        )
        self.held = self._gauge(
            "churn_held_transitions", "Transitions held by the mass-silence guard in the last sweep"
        )

    def _counter(self, name: str, doc: str, *labels: str) -> CounterMetric:
        return CounterMetric(PREFIX + name, doc, labels, registry=self.registry)

    def _gauge(self, name: str, doc: str, *labels: str) -> Gauge:
        return Gauge(PREFIX + name, doc, labels, registry=self.registry)

    def _histogram(self, name: str, doc: str, buckets: tuple[float, ...]) -> Histogram:
        return Histogram(PREFIX + name, doc, buckets=buckets, registry=self.registry)

    def observe_batch(
        self, records: Sequence[Record], duplicates: Mapping[str, int], seconds: float
    ) -> None:
        """Count an applied batch: its size, duration, and its events by type and outcome."""
        self.batch_size.observe(len(records))
        self.batch_seconds.observe(seconds)
        counts = Counter(record.event.type for record in records)
        for kind, n in counts.items():
            skipped = duplicates.get(kind, 0)
            self.events.labels(type=kind, outcome="applied").inc(n - skipped)
            if skipped:
                self.events.labels(type=kind, outcome="duplicate").inc(skipped)

    def observe_signals(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Count stored signals by kind."""
        for kind, n in Counter(str(row["kind"]) for row in rows).items():
            self.signals.labels(kind=kind).inc(n)

    def set_installations(self, counts: Mapping[str, int]) -> None:
        """Installations by status; statuses with none are exported as 0."""
        for status in InstallationStatus:
            self.installations.labels(status=status).set(counts.get(status, 0))

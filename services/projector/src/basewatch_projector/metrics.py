"""The projector's Prometheus metrics, in a registry of its own (one per app)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from basewatch_shared.contract.records import Record
from basewatch_shared.contract.vocabulary import InstallationStatus
from basewatch_shared.metrics import MetricSet, counter, gauge, histogram

_TP = ("topic", "partition")


class Metrics(MetricSet):
    """Counters and gauges the consume loop and the read API update."""

    events = counter(
        "basewatch_projector_events_total",
        "Records handled, by event type and outcome",
        ["type", "outcome"],
    )
    batch_size = histogram(
        "basewatch_projector_batch_records",
        "Records per applied batch",
        buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000),
    )
    batch_seconds = histogram(
        "basewatch_projector_batch_duration_seconds",
        "Time to apply one batch",
        buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )
    rebalances = counter("basewatch_projector_rebalances_total", "Partition assignments received")
    retries = counter(
        "basewatch_projector_batch_retries_total", "Batches retried after an infrastructure error"
    )
    committed_offset = gauge(
        "basewatch_projector_committed_offset",
        "Next offset to apply, as stored in the database",
        _TP,
    )
    end_offset = gauge(
        "basewatch_projector_log_end_offset", "Log end offset from the latest fetch response", _TP
    )
    lag_records = gauge("basewatch_projector_consumer_lag_records", "Records not yet applied", _TP)
    lag_seconds = gauge(
        "basewatch_projector_consumer_lag_seconds",
        "While behind: wall time minus received_at of the last applied record",
        _TP,
    )
    last_event_time = gauge(
        "basewatch_projector_last_event_timestamp_seconds",
        "occurred_at of the last applied event (unix time)",
        _TP,
    )
    signals = counter(
        "basewatch_projector_signals_total", "Churn signals stored, by kind", ["kind"]
    )
    installations = gauge(
        "basewatch_projector_installations",
        "Installations by status (as of the last sweep)",
        ["status"],
    )
    churn_clock_lag = gauge(
        "basewatch_projector_churn_clock_lag_seconds",
        "Wall clock minus the churn clock (how far behind silence is judged)",
    )
    held = gauge(
        "basewatch_projector_churn_held_transitions",
        "Transitions held by the mass-silence guard in the last sweep",
    )

    def __init__(self) -> None:
        super().__init__()
        # Exported at 0 from the start, so that increase() sees the first dead letter.
        self.events.labels(type="unknown", outcome="dead_lettered")
        self.partition_gauges = (
            self.committed_offset,
            self.end_offset,
            self.lag_records,
            self.lag_seconds,
            self.last_event_time,
        )

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

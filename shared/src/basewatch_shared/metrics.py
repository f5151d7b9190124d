"""Prometheus metrics in a registry of the app's own, so that apps never share a series.

Labels are small fixed sets (route templates, status codes, event types, reasons,
statuses): never ids of users, events or keys, which would make a series per user.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class MetricSet:
    """One app's registry and the metrics declared in it; a service subclasses it."""

    def __init__(self) -> None:
        # One per app, not the process-wide default: tests build many apps in a process.
        self.registry = CollectorRegistry(auto_describe=True)

    def counter(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
        """A counter in this set (the exposition adds ``_total`` to its name)."""
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        """A gauge in this set."""
        return Gauge(name, documentation, labels, registry=self.registry)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        *,
        buckets: Sequence[float],
    ) -> Histogram:
        """A histogram in this set, with the buckets its values need."""
        return Histogram(name, documentation, labels, buckets=buckets, registry=self.registry)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric in the set."""
        return generate_latest(self.registry)

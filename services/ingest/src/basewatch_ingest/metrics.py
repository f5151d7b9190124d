"""Prometheus metrics of one ingest process, in a registry the app owns."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from basewatch_shared.metrics import MetricSet, counter, gauge, histogram

# Produce latency is milliseconds when the broker is healthy, seconds when it is not.
_PRODUCE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics(MetricSet):
    """The counters, histograms and gauges ingest exports on /metrics."""

    requests = counter(
        "basewatch_ingest_requests",
        "HTTP requests answered, by route template, method and status code.",
        ["route", "method", "status"],
    )
    request_seconds = histogram(
        "basewatch_ingest_request_duration_seconds",
        "Time from receiving a request to sending its response, by route template.",
        ["route"],
        buckets=_PRODUCE_BUCKETS,
    )
    in_flight = gauge(
        "basewatch_ingest_requests_in_flight", "Requests received and not yet answered."
    )
    events_accepted = counter(
        "basewatch_ingest_events_accepted",
        "Events the broker acknowledged, by event type.",
        ["type"],
    )
    events_rejected = counter(
        "basewatch_ingest_events_rejected",
        "Events refused one by one, by event type (or unknown) and reason "
        "(invalid, too_large, future, malformed).",
        ["type", "reason"],
    )
    produce_seconds = histogram(
        "basewatch_ingest_produce_duration_seconds",
        "Time from handing a request's records to the producer until the broker "
        "acknowledged all of them or ingest gave up.",
        buckets=_PRODUCE_BUCKETS,
    )
    produce_errors = counter(
        "basewatch_ingest_produce_errors",
        "Requests answered 503 because the broker did not acknowledge, by reason "
        "(timeout, broker_error, not_connected).",
        ["reason"],
    )
    broker_ready = gauge(
        "basewatch_ingest_broker_ready",
        "1 if the last readiness probe reached the broker and found the topics, else 0.",
    )

    def __init__(self) -> None:
        super().__init__()
        # The labelled children, looked up once per label set: labels() costs a lock and a
        # tuple per call, on every request. Labels are small fixed sets (types, reasons).
        self._per_request: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._accepted: dict[str, Any] = {}
        self._rejected: dict[tuple[str, str], Any] = {}

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and how long it took."""
        children = self._per_request.get((route, method, status))
        if children is None:
            children = (
                self.requests.labels(route, method, str(status)),
                self.request_seconds.labels(route),
            )
            self._per_request[(route, method, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def count_events(
        self, accepted: Mapping[str, int], rejected: Mapping[tuple[str, str], int]
    ) -> None:
        """Add one request's events: accepted by type, rejected by (type, reason)."""
        for kind, n in accepted.items():
            child = self._accepted.get(kind)
            if child is None:
                child = self._accepted[kind] = self.events_accepted.labels(kind)
            child.inc(n)
        for labels, n in rejected.items():
            child = self._rejected.get(labels)
            if child is None:
                child = self._rejected[labels] = self.events_rejected.labels(*labels)
            child.inc(n)

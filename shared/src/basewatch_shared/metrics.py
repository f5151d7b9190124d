"""Prometheus metrics, declared once per service and held in a registry per app.

A service lists its metrics as class attributes of a ``MetricSet`` subclass, like
the columns of a table; each instance registers its own copies in a registry of its
own (tests build many apps in one process, and no two may share a series).

Labels are small fixed sets (route templates, status codes, event types, reasons,
statuses): never ids of users, events or keys, which would make a series per user.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, overload

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)


class Declared(Generic[M]):
    """A metric declared on a ``MetricSet``: each instance of the set gets its own."""

    def __init__(self, make: Callable[[CollectorRegistry], M]) -> None:
        self._make = make

    def make(self, registry: CollectorRegistry) -> M:
        """The metric, registered in ``registry``."""
        return self._make(registry)

    @overload
    def __get__(self, instance: None, owner: type[Any]) -> Declared[M]: ...

    @overload
    def __get__(self, instance: MetricSet, owner: type[Any]) -> M: ...

    def __get__(self, instance: MetricSet | None, owner: type[Any]) -> Declared[M] | M:
        """The declaration on the class; an instance holds its metric in its own dict."""
        if instance is None:
            return self
        raise AttributeError("a MetricSet sets its metrics in __init__")


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Declared[Counter]:
    """Declare a counter (the exposition adds ``_total`` to its name)."""
    return Declared(lambda r: Counter(name, documentation, labels, registry=r))


def gauge(name: str, documentation: str, labels: Sequence[str] = ()) -> Declared[Gauge]:
    """Declare a gauge."""
    return Declared(lambda r: Gauge(name, documentation, labels, registry=r))


def histogram(
    name: str, documentation: str, labels: Sequence[str] = (), *, buckets: Sequence[float]
) -> Declared[Histogram]:
    """Declare a histogram, with the buckets its values need."""
    return Declared(lambda r: Histogram(name, documentation, labels, buckets=buckets, registry=r))


class MetricSet:
    """One app's registry, holding the metrics its class declares, in declaration order."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for klass in reversed(type(self).__mro__):
            for attribute, declared in vars(klass).items():
                if isinstance(declared, Declared):
                    # In the instance's dict, which a non-data descriptor leaves alone:
                    # reading a metric costs what reading any attribute does.
                    vars(self)[attribute] = declared.make(self.registry)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric in the set."""
        return generate_latest(self.registry)

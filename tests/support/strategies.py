"""Hypothesis strategies for small, realistic event histories and their deliveries.

Few customers, installations, products and instants, so that collisions happen: the
same customer and installation from several events, the same attribute set at equal
timestamps (tie-broken by event_id), an uninstall and then an earlier heartbeat,
purchases of the same order. A delivery is a permutation of the history with some
events delivered again (retries, redeliveries), cut into consecutive batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, TypeVar

from hypothesis import strategies as st

from basewatch_shared.contract.events import EVENT_ADAPTER, Event

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 2, tzinfo=UTC)  # after every event: nothing is in the future
T = TypeVar("T")

customers = st.sampled_from(["c1", "c2", "c3"])
installations = st.sampled_from(["i1", "i2", "i3"])
products = st.sampled_from(["p1", "p2"])
versions = st.sampled_from(["1.0", "1.1", "2.0"])
# Five instants a minute apart: equal timestamps are common.
instants = st.integers(0, 4).map(lambda m: (T0 + timedelta(minutes=m)).isoformat())


def _maybe(strategy: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | strategy


identify = st.fixed_dictionaries(
    {"type": st.just("identify"), "customer_id": customers},
    optional={
        "traits": st.fixed_dictionaries(
            {},
            optional={
                "email": st.sampled_from(["a@example.com", "b@example.com"]),
                "country": st.sampled_from(["DE", "FR"]),
                "plan": st.sampled_from(["free", "pro"]),
            },
        )
    },
)
purchase = st.fixed_dictionaries(
    {
        "type": st.just("purchase"),
        "customer_id": customers,
        "order_id": st.sampled_from(["o1", "o2", "o3"]),
        "product_id": products,
        "amount": st.sampled_from(["0", "9.99", "19.99", "100"]),
        "currency": st.sampled_from(["EUR", "USD"]),
    },
    optional={"quantity": st.integers(1, 3)},
)
install = st.fixed_dictionaries(
    {
        "type": st.just("install"),
        "customer_id": customers,
        "installation_id": installations,
        "product_id": products,
        "version": versions,
    },
    optional={"platform": st.sampled_from(["linux", "macos"])},
)
heartbeat = st.fixed_dictionaries(
    {"type": st.just("heartbeat"), "installation_id": installations},
    optional={
        "customer_id": customers,
        "product_id": products,
        "version": versions,
        "platform": st.sampled_from(["linux", "macos"]),
        "usage": st.fixed_dictionaries({"sessions": st.integers(0, 3)}),
    },
)
uninstall = st.fixed_dictionaries({"type": st.just("uninstall"), "installation_id": installations})


@st.composite
def histories(draw: st.DrawFn, max_size: int = 14) -> list[Event]:
    """A history: distinct events (each its own event_id), in the order they happened."""
    bodies = draw(
        st.lists(
            st.tuples(identify | purchase | install | heartbeat | uninstall, instants),
            min_size=1,
            max_size=max_size,
        )
    )
    # Ids drawn from a shuffled pool: tie-breaks by event_id are not tied to history order.
    ids = draw(st.permutations([f"e{n:02d}" for n in range(len(bodies))]))
    return [
        EVENT_ADAPTER.validate_python(body | {"event_id": event_id, "occurred_at": at})
        for (body, at), event_id in zip(bodies, ids, strict=True)
    ]


@dataclass(frozen=True)
class Delivery:
    """The history's events as delivered: reordered, some twice, in consecutive batches."""

    batches: list[list[Event]]

    @property
    def events(self) -> list[Event]:
        """Every delivered event, in delivery order."""
        return [event for batch in self.batches for event in batch]


@st.composite
def deliveries(draw: st.DrawFn, history: Sequence[Event]) -> Delivery:
    """Any permutation of ``history`` with duplicates, cut into batches anywhere."""
    again = draw(st.lists(st.sampled_from(list(history)), max_size=len(history)))
    delivered: list[Event] = draw(st.permutations([*history, *again]))
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(delivered) - 1)), max_size=4)))
    bounds = [0, *(c for c in cuts if c < len(delivered)), len(delivered)]
    return Delivery([delivered[a:b] for a, b in pairwise(bounds) if a < b])


def as_dict(event: Event) -> dict[str, Any]:
    """An event as plain data, for readable failure reports."""
    return event.model_dump(mode="json", exclude_none=True)

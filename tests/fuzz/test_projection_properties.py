"""Property tests of the pure projection rules (docs/tables.md).

Whatever the delivery order, however often an event is redelivered and however the
deliveries fall into batches, folding them gives the same installation and the same
traits as folding the history once, in order.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from basewatch_projector.rules.customer import merge_traits
from basewatch_projector.rules.installation import Installation, apply_telemetry
from basewatch_shared.contract.events import Event, Heartbeat, Identify, Install, Uninstall
from tests.support.policy import every_heartbeat_fresh
from tests.support.profiles import scaled
from tests.support.strategies import NOW, deliveries, histories

Telemetry = Install | Heartbeat | Uninstall


def installations(batches: list[list[Event]]) -> dict[str, Installation]:
    """Fold each batch's telemetry into the installations, batch after batch."""
    state: dict[str, Installation] = {}
    for batch in batches:
        by_installation: dict[str, list[Telemetry]] = defaultdict(list)
        for event in batch:
            if isinstance(event, Install | Heartbeat | Uninstall):
                by_installation[event.installation_id].append(event)
        for inst_id, events in by_installation.items():
            before = state.get(inst_id) or Installation(installation_id=inst_id, first_seen_at=NOW)
            state[inst_id] = apply_telemetry(before, events, NOW, every_heartbeat_fresh)
    return state


def traits(batches: list[list[Event]]) -> dict[str, tuple[object, object]]:
    """Merge each batch's identifies into the customers' traits, batch after batch."""
    state: dict[str, tuple[dict[str, object], dict[str, list[str]]]] = {}
    for batch in batches:
        by_customer: dict[str, list[Identify]] = defaultdict(list)
        for event in batch:
            if isinstance(event, Identify):
                by_customer[event.customer_id].append(event)
        for cid, events in by_customer.items():
            state[cid] = merge_traits(*state.get(cid, ({}, {})), events)
    return dict(state)


@scaled(ci=500, soak=5_000)
@given(st.data())
def test_installations_converge_whatever_the_order_duplicates_and_batches(
    data: st.DataObject,
) -> None:
    history = data.draw(histories())
    delivery = data.draw(deliveries(history))
    assert installations(delivery.batches) == installations([history])


@scaled(ci=500, soak=5_000)
@given(st.data())
def test_traits_converge_whatever_the_order_duplicates_and_batches(data: st.DataObject) -> None:
    history = data.draw(histories())
    delivery = data.draw(deliveries(history))
    assert traits(delivery.batches) == traits([history])


def test_usage_at_the_same_instant_is_the_one_of_the_greater_event_id() -> None:
    # Found by the property above: the usage went to whichever heartbeat arrived last.
    at = NOW - timedelta(hours=1)
    first, second = (
        Heartbeat(event_id=i, occurred_at=at, installation_id="i1", usage={"sessions": n})
        for i, n in (("hb-a", 1), ("hb-b", 2))
    )
    fresh = Installation(installation_id="i1", first_seen_at=NOW)
    for order in ([first, second], [second, first]):
        assert apply_telemetry(fresh, order, NOW, every_heartbeat_fresh).usage == {"sessions": 2}
        one_by_one = apply_telemetry(
            apply_telemetry(fresh, order[:1], NOW, every_heartbeat_fresh),
            order[1:],
            NOW,
            every_heartbeat_fresh,
        )
        assert one_by_one.usage == {"sessions": 2}

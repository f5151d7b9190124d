"""The projection rules of docs/tables.md, on pure data."""

from __future__ import annotations

import copy
import itertools
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from basewatch_projector.rules.customer import customer_status, merge_traits, segment
from basewatch_projector.rules.installation import Installation, apply_telemetry
from basewatch_shared.contract.events import Heartbeat, Identify, Install, Uninstall
from basewatch_shared.contract.traits import Traits
from tests.support.policy import every_heartbeat_fresh

T0 = datetime(2026, 11, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def fresh() -> Installation:
    return Installation(installation_id="i1", first_seen_at=NOW)


INSTALL = Install(
    event_id="a",
    occurred_at=at(0),
    customer_id="c1",
    installation_id="i1",
    product_id="p1",
    version="1.0",
)
HB1 = Heartbeat(
    event_id="b", occurred_at=at(10), installation_id="i1", version="1.1", usage={"sessions": 1}
)
HB2 = Heartbeat(event_id="c", occurred_at=at(20), installation_id="i1", usage={"sessions": 5})
UNINSTALL = Uninstall(event_id="d", occurred_at=at(30), installation_id="i1")
LATE_HB = Heartbeat(event_id="e", occurred_at=at(25), installation_id="i1", usage={"sessions": 4})


@pytest.mark.parametrize("order", list(itertools.permutations([INSTALL, HB1, HB2, LATE_HB])))
def test_any_order_converges(order: tuple[Install | Heartbeat, ...]) -> None:
    inst = apply_telemetry(fresh(), order, NOW, every_heartbeat_fresh)
    assert inst.last_heartbeat_at == at(25)
    assert inst.usage == {"sessions": 4}  # the latest by occurred_at, not by arrival
    assert inst.version == "1.1"
    assert (inst.customer_id, inst.product_id, inst.installed_at) == ("c1", "p1", at(0))
    assert inst.status == "active"


def test_each_event_alone_or_together_gives_the_same_state() -> None:
    together = apply_telemetry(fresh(), [INSTALL, HB1, UNINSTALL, HB2], NOW, every_heartbeat_fresh)
    one_by_one = fresh()
    events: list[Install | Heartbeat | Uninstall] = [HB2, UNINSTALL, INSTALL, HB1, HB1]
    for event in events:  # reordered, HB1 duplicated
        one_by_one = apply_telemetry(one_by_one, [event], NOW, every_heartbeat_fresh)
    assert together == one_by_one
    assert together.status == "uninstalled"


def test_a_heartbeat_from_before_the_uninstall_does_not_bring_it_back() -> None:
    inst = apply_telemetry(fresh(), [INSTALL, UNINSTALL], NOW, every_heartbeat_fresh)
    inst = apply_telemetry(inst, [LATE_HB], NOW, every_heartbeat_fresh)
    assert inst.status == "uninstalled"


def test_activity_after_the_uninstall_brings_it_back() -> None:
    inst = apply_telemetry(fresh(), [INSTALL, UNINSTALL], NOW, every_heartbeat_fresh)
    later = Heartbeat(event_id="f", occurred_at=at(40), installation_id="i1")
    inst = apply_telemetry(inst, [later], NOW, every_heartbeat_fresh)
    assert inst.status == "active"


@pytest.mark.parametrize("status", ["at_risk", "churned"])
def test_a_new_heartbeat_reactivates(status: str) -> None:
    inst = apply_telemetry(fresh(), [INSTALL, HB1], NOW, every_heartbeat_fresh)
    silent = replace(inst, status=status)
    assert apply_telemetry(silent, [HB2], NOW, every_heartbeat_fresh).status == "active"
    old = Heartbeat(event_id="g", occurred_at=at(5), installation_id="i1")
    # An old heartbeat is no new activity.
    assert apply_telemetry(silent, [old], NOW, every_heartbeat_fresh).status == status


def _stale(heartbeat: Heartbeat, product_id: str | None) -> bool:
    return False


@pytest.mark.parametrize("status", ["at_risk", "churned"])
def test_a_stale_heartbeat_moves_the_heartbeat_and_usage_and_no_status(status: str) -> None:
    silent = replace(apply_telemetry(fresh(), [INSTALL, HB1], NOW, _stale), status=status)
    after = apply_telemetry(silent, [HB2], NOW, _stale)
    assert after.status == status
    assert (after.last_heartbeat_at, after.silent_since, after.usage) == (
        HB2.occurred_at,
        HB2.occurred_at,
        {"sessions": 5},
    )
    # An install still counts as new activity, whatever the heartbeats beside it.
    again = INSTALL.model_copy(update={"event_id": "again", "occurred_at": at(50)})
    assert apply_telemetry(silent, [HB2, again], NOW, _stale).status == "active"


def test_freshness_is_judged_with_the_product_the_heartbeat_leaves() -> None:
    seen: list[str | None] = []

    def judge(heartbeat: Heartbeat, product_id: str | None) -> bool:
        seen.append(product_id)
        return True

    named = Heartbeat(event_id="h", occurred_at=at(60), installation_id="i1", product_id="p2")
    apply_telemetry(fresh(), [INSTALL, HB2, named], NOW, judge)
    assert seen == ["p1", "p2"]


def test_the_state_folded_from_is_left_as_it_was() -> None:
    # The installation cache hands its states to the fold: a change to one of them
    # (its attribute stamps, its usage) would be a row the database never got.
    before = apply_telemetry(fresh(), [INSTALL, HB1], NOW, every_heartbeat_fresh)
    kept = replace(
        before, attr_times=copy.deepcopy(before.attr_times), usage=dict(before.usage or {})
    )
    newer = Heartbeat(
        event_id="z", occurred_at=at(90), installation_id="i1", version="2.0", usage={"sessions": 9}
    )
    gone = Uninstall(event_id="y", occurred_at=at(95), installation_id="i1")
    after = apply_telemetry(before, [newer, gone], NOW, every_heartbeat_fresh)
    assert before == kept
    assert (after.version, after.usage, after.status) == ("2.0", {"sessions": 9}, "uninstalled")
    assert after.attr_times["version"] != before.attr_times["version"]


def test_an_event_that_is_not_telemetry_is_refused_by_the_fold() -> None:
    identify = Identify(event_id="x", occurred_at=at(0), customer_id="c1", traits=Traits())
    with pytest.raises(TypeError, match="not a telemetry event: Identify"):
        apply_telemetry(fresh(), [identify], NOW, every_heartbeat_fresh)  # type: ignore[list-item]


def test_traits_last_writer_wins_per_trait_in_any_order() -> None:
    old = Identify(
        event_id="x",
        occurred_at=at(0),
        customer_id="c1",
        traits=Traits.model_validate({"email": "old@example.com", "name": "Ada"}),
    )
    new = Identify(
        event_id="y",
        occurred_at=at(5),
        customer_id="c1",
        traits=Traits.model_validate({"email": "new@example.com", "plan": "pro"}),
    )
    forward = merge_traits({}, {}, [old, new])
    backward = merge_traits(*merge_traits({}, {}, [new]), [old])
    assert forward == backward
    assert forward[0] == {"email": "new@example.com", "name": "Ada", "plan": "pro"}


@pytest.mark.parametrize(
    ("orders", "installations", "expected"),
    [(0, 0, "suspect"), (0, 1, "prospect"), (1, 0, "one_time"), (2, 0, "loyal"), (5, 3, "loyal")],
)
def test_segments(orders: int, installations: int, expected: str) -> None:
    assert segment(orders, installations, loyal_min_orders=2) == expected


@pytest.mark.parametrize(
    ("orders", "installations", "in_use", "expected"),
    [
        (1, 2, 1, "active"),
        (1, 2, 0, "lapsed"),
        (1, 0, 0, "never_installed"),
        (0, 0, 0, "none"),
        (0, 1, 0, "none"),
        (0, 1, 1, "active"),
    ],
)
def test_customer_status(orders: int, installations: int, in_use: int, expected: str) -> None:
    assert customer_status(orders, installations, in_use) == expected

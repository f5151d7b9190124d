"""Silence on a partition's clock: every deadline a step dated at itself, and where a
batch is cut so that a sweep applies a deadline before the records after it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from basewatch_projector.churn.cut import Cut
from basewatch_projector.rules.causes import customer_times, left_use
from basewatch_projector.rules.clock import PartitionPosition
from basewatch_projector.rules.installation import Installation, first_revival
from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.silence import next_deadline, steps
from basewatch_shared.contract.events import Heartbeat, Install, Uninstall
from basewatch_shared.contract.records import Record

T0 = datetime(2026, 11, 1, tzinfo=UTC)
POLICY = Policy(at_risk_after=timedelta(seconds=4), churn_after=timedelta(seconds=8))
S = timedelta(seconds=1)


def test_a_clock_that_passes_both_deadlines_gives_both_steps_at_their_deadlines() -> None:
    # The partition was swept at T0 + 1 s; its next record arrives 12 s later.
    assert steps(POLICY, "active", T0, None, T0 + S, T0 + 12 * S) == [
        ("at_risk", T0 + 4 * S),
        ("churned", T0 + 8 * S),
    ]
    assert steps(POLICY, "active", T0, None, T0 + S, T0 + 5 * S) == [("at_risk", T0 + 4 * S)]
    assert steps(POLICY, "at_risk", T0, None, T0 + 5 * S, T0 + 9 * S) == [("churned", T0 + 8 * S)]
    assert steps(POLICY, "active", T0, None, T0 + S, T0 + 3 * S) == []


def test_a_deadline_behind_the_last_sweep_is_one_jump() -> None:
    # First seen already silent for 20 s (both deadlines before the last sweep): churned.
    assert steps(POLICY, "active", T0, None, T0 + 20 * S, T0 + 21 * S) == [("churned", T0 + 8 * S)]
    # No earlier sweep (just assigned): what is due is one jump too.
    assert steps(POLICY, "active", T0, None, None, T0 + 21 * S) == [("churned", T0 + 8 * S)]
    # at_risk's deadline behind the last sweep, churn's after it: a jump, then a step.
    assert steps(POLICY, "active", T0, None, T0 + 5 * S, T0 + 9 * S) == [
        ("at_risk", T0 + 4 * S),
        ("churned", T0 + 8 * S),
    ]


def test_next_deadline_by_status() -> None:
    assert next_deadline(POLICY, "active", T0, None) == T0 + 4 * S
    assert next_deadline(POLICY, "at_risk", T0, None) == T0 + 8 * S
    assert next_deadline(POLICY, "churned", T0, None) is None
    assert next_deadline(POLICY, "active", None, None) is None


def _heartbeat(n: int, occurred: datetime) -> Heartbeat:
    return Heartbeat(event_id=f"h{n}", occurred_at=occurred, installation_id="i1")


def _cut(position: PartitionPosition, boundary: datetime = T0 + 3600 * S) -> Cut:
    return Cut(boundary, {("tel", 0): position}, telemetry_topic="tel", earliest=4 * S)


def test_a_batch_is_cut_where_its_partition_reaches_its_deadline() -> None:
    cut = _cut(PartitionPosition(last_received_at=T0, deadline=T0 + 4 * S))
    records = [Record(_heartbeat(n, T0 - 9 * S), T0 + n * S, "k") for n in (1, 2, 4, 3)]
    held = [cut.holds(("tel", 0), r) for r in records]
    assert held == [False, False, True, False]  # Holding keeps all from the first one held
    # Other topics stop only at the history boundary.
    assert not cut.holds(("customers", 0), records[3])
    assert cut.holds(("customers", 0), Record(_heartbeat(9, T0), T0 + 3600 * S, "k"))


def test_a_record_admitted_lowers_the_cut_to_the_deadline_it_may_set() -> None:
    cut = _cut(PartitionPosition(last_received_at=T0, deadline=T0 + 60 * S))
    install = Install(
        event_id="in",
        occurred_at=T0 + S,
        installation_id="i1",
        customer_id="c1",
        product_id="p1",
        version="1",
    )
    assert not cut.holds(("tel", 0), Record(install, T0 + S, "k"))
    assert not cut.holds(("tel", 0), Record(_heartbeat(1, T0 - 60 * S), T0 + 4 * S, "k"))
    assert cut.holds(("tel", 0), Record(_heartbeat(2, T0 + 5 * S), T0 + 5 * S, "k"))


def test_a_batch_is_cut_where_an_installation_would_turn_a_second_time() -> None:
    def cut_at(*events: Heartbeat | Uninstall) -> list[bool]:
        cut = _cut(PartitionPosition(last_received_at=T0, deadline=T0 + 60 * S))
        return [cut.holds(("tel", 0), Record(e, T0 + S, "k")) for e in events]

    gone = Uninstall(event_id="u", occurred_at=T0, installation_id="i1")
    other = Heartbeat(event_id="o", occurred_at=T0, installation_id="i2")
    assert cut_at(_heartbeat(1, T0), _heartbeat(2, T0), other) == [False] * 3
    assert cut_at(gone, other, _heartbeat(1, T0)) == [False, False, True]
    assert cut_at(_heartbeat(1, T0), gone) == [False, True]
    assert cut_at(gone, gone) == [False, True]  # the same uninstall delivered twice


def _install(event_id: str, occurred: datetime) -> Install:
    return Install(
        event_id=event_id,
        occurred_at=occurred,
        installation_id="i1",
        customer_id="c1",
        product_id="p1",
        version="1",
    )


def test_a_batch_is_cut_before_what_moves_an_installation_it_admitted_overdue() -> None:
    # A dead installation's install and its comeback heartbeat received a second apart:
    # applied one by one, a sweep churns it between them; so must a batch.
    def cut_at(*events: Install | Heartbeat | Uninstall) -> list[bool]:
        cut = _cut(PartitionPosition(last_received_at=T0, deadline=T0 + 60 * S))
        return [cut.holds(("tel", 0), Record(e, T0 + S, "k")) for e in events]

    install = _install("in", T0 - 30 * S)
    back = _heartbeat(1, T0 + S)
    older = _heartbeat(2, T0 - 40 * S)  # moves nothing: not a cut
    other = Heartbeat(event_id="o", occurred_at=T0 + S, installation_id="i2")
    gone = Uninstall(event_id="u", occurred_at=T0 + S, installation_id="i1")
    assert cut_at(install, older, other, back) == [False, False, False, True]
    assert cut_at(install, gone) == [False, True]
    assert cut_at(older, install) == [False, True]  # a later activity moves its deadline
    # Not overdue: a recent install and its heartbeat share the batch.
    fresh = _install("in2", T0)
    assert cut_at(fresh, back) == [False, False]


def test_a_partition_whose_deadline_is_unknown_stops_at_its_first_record() -> None:
    cut = _cut(PartitionPosition())
    assert cut.holds(("tel", 0), Record(_heartbeat(1, T0), T0, "k"))


def always_fresh(heartbeat: Heartbeat, product: str | None) -> bool:
    return True


def test_a_revival_is_dated_by_the_first_event_that_ended_the_silence() -> None:
    before = Installation("i1", T0, status="churned", last_heartbeat_at=T0)
    events = [_heartbeat(1, T0 + 12 * S), _heartbeat(2, T0 + 13 * S)]
    assert first_revival(before, events, None, always_fresh) == T0 + 12 * S
    assert first_revival(before, [_heartbeat(3, T0 - S)], None, always_fresh) is None


def test_a_customer_change_is_dated_by_the_installation_change_that_caused_it() -> None:
    back_before = Installation("i2", T0, status="churned", customer_id="c2")
    back = Installation("i2", T0, status="active", customer_id="c2", last_heartbeat_at=T0 + 9 * S)
    new = Installation("i3", T0, status="active", customer_id="c3", installed_at=T0 + 2 * S)
    when = customer_times(
        [(back_before, back), (None, new)],
        {"i2": T0 + 7 * S},
        {"c1": T0 + 3 * S},
        fallback=T0 + 99 * S,
    )
    assert when("c2", "active") == T0 + 7 * S  # its first fresh heartbeat, not the last
    assert when("c3", "active") == T0 + 2 * S
    assert when("c1", "lapsed") == T0 + 3 * S
    assert when("c4", "lapsed") == T0 + 99 * S


def test_an_installation_left_use_at_its_uninstall_or_its_churn_deadline() -> None:
    assert left_use(POLICY, "uninstalled", T0, T0 + S, None) == T0 + S
    assert left_use(POLICY, "churned", T0, None, None) == T0 + 8 * S
    assert left_use(POLICY, "active", T0, None, None) is None


def test_after_an_uninstall_the_first_activity_after_it_brings_it_back() -> None:
    gone = Installation(
        "i1", T0, status="uninstalled", last_heartbeat_at=T0, uninstalled_at=T0 + 5 * S
    )
    events = [_heartbeat(1, T0 + 3 * S), _heartbeat(2, T0 + 6 * S), _heartbeat(3, T0 + 7 * S)]
    assert first_revival(gone, events, None, lambda heartbeat, product: False) == T0 + 6 * S


def test_a_deadline_equal_to_the_clock_is_due() -> None:
    assert steps(POLICY, "active", T0, None, T0 + S, T0 + 4 * S) == [("at_risk", T0 + 4 * S)]

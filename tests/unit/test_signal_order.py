"""What two runs' signals may differ by: a customer's lapse undone within one interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.signals import to_the_interval

T0 = datetime(2026, 12, 6, 10, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def at(ms: int) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def test_a_lapse_undone_within_the_interval_is_what_a_replay_may_not_see() -> None:
    live = [
        ("customer.lapsed", "c1", at(200)),
        ("customer.reactivated", "c1", at(700)),
        ("installation.uninstalled", "i1", at(200)),
    ]
    replayed = [("installation.uninstalled", "i1", at(200))]
    assert to_the_interval(live, SECOND) == to_the_interval(replayed, SECOND)


def test_a_reactivation_undone_within_the_interval_cancels_too() -> None:
    signals = [("customer.reactivated", "c1", at(100)), ("customer.lapsed", "c1", at(900))]
    assert not to_the_interval(signals, SECOND)


def test_a_lapse_undone_later_than_the_interval_stays() -> None:
    signals = [("customer.lapsed", "c1", at(0)), ("customer.reactivated", "c1", at(1000))]
    assert to_the_interval(signals, SECOND) == dict.fromkeys(signals, 1)


def test_only_the_same_customer_undoes() -> None:
    signals = [("customer.lapsed", "c1", at(0)), ("customer.reactivated", "c2", at(10))]
    assert to_the_interval(signals, SECOND) == dict.fromkeys(signals, 1)


def test_installation_signals_never_cancel() -> None:
    signals = [
        ("installation.churned", "i1", at(0)),
        ("installation.reactivated", "i1", at(10)),
    ]
    assert to_the_interval(signals, SECOND) == dict.fromkeys(signals, 1)


def test_a_lapse_and_reactivation_in_both_runs_compare_equal_and_count() -> None:
    signals = [
        ("customer.lapsed", "c1", at(0)),
        ("customer.reactivated", "c1", at(5000)),
        ("customer.lapsed", "c1", at(9000)),
    ]
    assert to_the_interval(signals, SECOND) == dict.fromkeys(signals, 1)
    assert to_the_interval(signals, SECOND) != to_the_interval(signals[:2], SECOND)

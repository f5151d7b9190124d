"""The churn policy and each partition's clock, on pure data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from basewatch_projector.rules.clock import PartitionPosition, partition_clock
from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.signals import customer_kind, installation_kind

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
POLICY = Policy(
    at_risk_after=timedelta(days=3),
    churn_after=timedelta(days=14),
    per_product={"fast": (timedelta(hours=1), timedelta(hours=2))},
)


@pytest.mark.parametrize(
    ("status", "silent", "product", "expected"),
    [
        ("active", timedelta(days=2), "p", "active"),
        ("active", timedelta(days=3), "p", "at_risk"),
        ("at_risk", timedelta(days=5), "p", "at_risk"),
        ("at_risk", timedelta(days=14), "p", "churned"),
        ("active", timedelta(days=20), "p", "churned"),  # straight to churned, one signal
        ("active", timedelta(minutes=90), "fast", "at_risk"),  # per-product thresholds
        ("at_risk", timedelta(hours=3), "fast", "churned"),
        ("active", timedelta(minutes=90), None, "active"),
    ],
)
def test_policy_targets(status: str, silent: timedelta, product: str | None, expected: str) -> None:
    assert POLICY.target(status, silent, product) == expected


def pos(records: int | None, received: datetime | None) -> PartitionPosition:
    return PartitionPosition(
        committed=0, end=records, end_reported_at=NOW, last_received_at=received
    )


DELAY = timedelta(seconds=5)


def test_each_partition_has_its_own_clock() -> None:
    behind = NOW - timedelta(hours=5)
    assert partition_clock(pos(10, behind), NOW, DELAY) == behind  # behind: its stream time
    assert partition_clock(pos(3, NOW - timedelta(hours=1)), NOW, DELAY) == NOW - timedelta(hours=1)
    # Caught up: the wall clock less the ingest delay, or its stream time if later.
    assert partition_clock(pos(0, None), NOW, DELAY) == NOW - DELAY
    assert partition_clock(pos(0, behind), NOW, DELAY) == NOW - DELAY
    assert partition_clock(pos(0, NOW - timedelta(seconds=1)), NOW, DELAY) == NOW - timedelta(
        seconds=1
    )


def test_a_caught_up_partition_is_judged_when_the_broker_said_so_not_now() -> None:
    # The broker reported the log end 10 s ago and nothing was fetched since (a stalled
    # loop): records acknowledged meanwhile may have been received up to DELAY before
    # that report, not before now.
    reported = NOW - timedelta(seconds=10)
    position = PartitionPosition(committed=4, end=4, end_reported_at=reported)
    assert partition_clock(position, NOW, DELAY) == reported - DELAY
    position.last_received_at = reported - timedelta(seconds=1)  # its stream time, later
    assert partition_clock(position, NOW, DELAY) == reported - timedelta(seconds=1)


def test_no_clock_while_a_partition_is_unknown() -> None:
    assert partition_clock(pos(None, None), NOW, DELAY) is None  # no fetch yet
    assert partition_clock(pos(5, None), NOW, DELAY) is None  # behind, nothing applied yet


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("active", "at_risk", "installation.at_risk"),
        ("at_risk", "churned", "installation.churned"),
        ("churned", "active", "installation.reactivated"),
        ("active", "uninstalled", "installation.uninstalled"),
        ("uninstalled", "active", "installation.reactivated"),
        ("active", "active", None),
    ],
)
def test_installation_signal_kinds(before: str, after: str, kind: str | None) -> None:
    assert installation_kind(before, after) == kind


@pytest.mark.parametrize(
    ("before", "after", "kind"),
    [
        ("active", "lapsed", "customer.lapsed"),
        ("lapsed", "active", "customer.reactivated"),
        ("none", "active", None),
        ("never_installed", "active", None),
        ("active", "none", None),
    ],
)
def test_customer_signal_kinds(before: str, after: str, kind: str | None) -> None:
    assert customer_kind(before, after) == kind

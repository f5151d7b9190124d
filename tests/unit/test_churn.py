"""The churn policy and the lag-aware churn clock, on pure data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from basewatch_projector.rules.clock import PartitionPosition, churn_clock
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
    position = PartitionPosition(committed=0, end=records, last_received_at=received)
    return position


def test_clock_is_now_when_caught_up_and_the_minimum_behind() -> None:
    behind = NOW - timedelta(hours=5)
    positions = {
        ("t", 0): pos(0, None),
        ("t", 1): pos(10, behind),
        ("t", 2): pos(3, NOW - timedelta(hours=1)),
    }
    assert churn_clock(positions, NOW, [("t", 0)]) == NOW
    assert churn_clock(positions, NOW, list(positions)) == behind


def test_no_clock_while_a_partition_is_unknown() -> None:
    positions = {("t", 0): pos(0, None), ("t", 1): pos(None, None), ("t", 2): pos(5, None)}
    assert churn_clock(positions, NOW, [("t", 0), ("t", 1)]) is None  # no fetch yet
    assert churn_clock(positions, NOW, [("t", 2)]) is None  # behind, nothing applied yet
    assert churn_clock(positions, NOW, [("t", 9)]) is None  # not tracked


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

"""The read API's documents name exactly the values the projection produces."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from basewatch_projector.api.documents import InstallationCounts
from basewatch_projector.rules.customer import customer_status, segment
from basewatch_projector.rules.installation import Installation, apply_telemetry
from basewatch_projector.rules.policy import Policy
from basewatch_shared.contract.events import Uninstall
from basewatch_shared.contract.vocabulary import (
    IN_USE,
    PAYING,
    CustomerStatus,
    InstallationStatus,
    Segment,
)
from tests.support.policy import every_heartbeat_fresh

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def test_segments_and_statuses_match_the_projection_rules() -> None:
    cases = list(itertools.product(range(4), range(3), range(3)))
    assert {segment(orders, n, 2) for orders, n, _ in cases} == set(Segment)
    assert {customer_status(o, n, min(u, n)) for o, n, u in cases} == set(CustomerStatus)
    assert {segment(orders, 0, 2) for orders in (1, 2)} == set(PAYING)
    assert set(InstallationStatus) >= IN_USE


def test_installation_statuses_are_those_the_rules_reach() -> None:
    policy = Policy(at_risk_after=timedelta(days=1), churn_after=timedelta(days=2))
    silent = {policy.target("active", timedelta(days=d), None) for d in (0, 1, 2)}
    new = Installation(installation_id="i1", first_seen_at=NOW)
    gone = Uninstall(event_id="u1", occurred_at=NOW, installation_id="i1")
    gone_status = apply_telemetry(new, [gone], NOW, every_heartbeat_fresh).status
    assert silent | {gone_status} == set(InstallationStatus)


def test_the_documents_count_installations_by_exactly_the_vocabularys_statuses() -> None:
    # Field names cannot come from a tuple and stay visible to the type checker: the
    # documents spell them, and this holds them to the vocabulary.
    assert list(InstallationCounts.model_fields) == ["installations", *InstallationStatus]

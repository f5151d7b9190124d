"""The read API's documents name exactly the values the projection produces."""

from __future__ import annotations

import itertools

from basewatch_projector.api.documents import InstallationCounts
from basewatch_projector.rules.customer import customer_status, segment
from basewatch_projector.rules.vocabulary import (
    ACTIVE,
    AT_RISK,
    CHURNED,
    CUSTOMER_STATUSES,
    IN_USE,
    INSTALLATION_STATUSES,
    PAYING,
    SEGMENTS,
    UNINSTALLED,
)


def test_segments_and_statuses_match_the_projection_rules() -> None:
    cases = list(itertools.product(range(4), range(3), range(3)))
    assert {segment(orders, n, 2) for orders, n, _ in cases} == set(SEGMENTS)
    assert {customer_status(o, n, min(u, n)) for o, n, u in cases} == set(CUSTOMER_STATUSES)
    assert {segment(orders, 0, 2) for orders in (1, 2)} == set(PAYING)
    assert set(INSTALLATION_STATUSES) == {ACTIVE, AT_RISK, CHURNED, UNINSTALLED}
    assert set(INSTALLATION_STATUSES) >= IN_USE


def test_the_documents_count_installations_by_exactly_the_vocabularys_statuses() -> None:
    # Field names cannot come from a tuple and stay visible to the type checker: the
    # documents spell them, and this holds them to the vocabulary.
    assert list(InstallationCounts.model_fields) == ["installations", *INSTALLATION_STATUSES]

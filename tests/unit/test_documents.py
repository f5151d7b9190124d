"""The read API's documents name exactly the values the projection produces."""

from __future__ import annotations

import itertools

from basewatch_projector.documents import (
    CUSTOMER_STATUSES,
    INSTALLATION_STATUSES,
    PAYING,
    SEGMENTS,
)
from basewatch_projector.projection import (
    ACTIVE,
    AT_RISK,
    CHURNED,
    IN_USE,
    UNINSTALLED,
    customer_status,
    segment,
)


def test_segments_and_statuses_match_the_projection_rules() -> None:
    cases = list(itertools.product(range(4), range(3), range(3)))
    assert {segment(orders, n, 2) for orders, n, _ in cases} == set(SEGMENTS)
    assert {customer_status(o, n, min(u, n)) for o, n, u in cases} == set(CUSTOMER_STATUSES)
    assert {segment(orders, 0, 2) for orders in (1, 2)} == set(PAYING)
    assert set(INSTALLATION_STATUSES) == {ACTIVE, AT_RISK, CHURNED, UNINSTALLED}
    assert set(INSTALLATION_STATUSES) >= IN_USE

"""When silence moves an installation in use, as pure functions of the policy.

A deadline is ``silent_since`` plus a threshold: at ``at_risk_after`` an active
installation becomes at_risk, at ``churn_after`` it becomes churned. A sweep that moves
the clock from ``since`` to ``until`` applies each deadline in between as its own step,
dated at the deadline; a deadline already behind ``since`` (an installation first seen,
or seen again, long silent) is one jump to the status the silence calls for.
"""

from __future__ import annotations

from datetime import datetime

from basewatch_projector.rules.policy import Policy
from basewatch_shared.contract.vocabulary import InstallationStatus

Step = tuple[str, datetime]  # the new status, and when it happened (its deadline)


def next_deadline(
    policy: Policy, status: str, silent_since: datetime | None, product_id: str | None
) -> datetime | None:
    """When silence next moves an installation in ``status`` (None: never)."""
    if silent_since is None:
        return None
    at_risk, churned = policy.thresholds(product_id)
    if status == InstallationStatus.ACTIVE:
        return silent_since + at_risk
    if status == InstallationStatus.AT_RISK:
        return silent_since + churned
    return None


def steps(
    policy: Policy,
    status: str,
    silent_since: datetime,
    product_id: str | None,
    since: datetime | None,
    until: datetime,
) -> list[Step]:
    """The status changes of a silent installation as the clock goes from ``since``
    (None: no earlier sweep) to ``until``, each dated at its deadline."""
    moves: list[Step] = []
    if since is not None:
        since = min(since, until)
        jumped = policy.target(status, since - silent_since, product_id)
        if jumped != status:
            moves.append((jumped, _deadline(policy, jumped, silent_since, product_id)))
            status = jumped
    while (deadline := next_deadline(policy, status, silent_since, product_id)) is not None:
        if deadline > until:
            break
        status = policy.target(status, deadline - silent_since, product_id)
        moves.append((status, deadline))
    return _one_jump(moves, since, until, policy, silent_since, product_id)


def _one_jump(
    moves: list[Step],
    since: datetime | None,
    until: datetime,
    policy: Policy,
    silent_since: datetime,
    product_id: str | None,
) -> list[Step]:
    """Without an earlier sweep, everything due at ``until`` is one jump."""
    if since is not None or len(moves) < 2:
        return moves
    status = moves[-1][0]
    return [(status, _deadline(policy, status, silent_since, product_id))]


def _deadline(
    policy: Policy, status: str, silent_since: datetime, product_id: str | None
) -> datetime:
    """When ``status`` became due for an installation silent since ``silent_since``."""
    at_risk, churned = policy.thresholds(product_id)
    return silent_since + (churned if status == InstallationStatus.CHURNED else at_risk)

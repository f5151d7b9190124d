"""The churn policy of tests that apply records directly: the default thresholds."""

from datetime import timedelta

from basewatch_projector.rules.policy import Policy
from basewatch_shared.contract.events import Heartbeat

POLICY = Policy(at_risk_after=timedelta(days=3), churn_after=timedelta(days=14))


def every_heartbeat_fresh(heartbeat: Heartbeat, product_id: str | None) -> bool:
    """For rules tests about other things: every heartbeat arrived in time."""
    return True

"""The threshold policy: how long a silence makes an installation at_risk, then churned."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from basewatch_shared.contract.vocabulary import InstallationStatus


@dataclass(frozen=True)
class Policy:
    """Thresholds (default and per product) and the mass-silence guard."""

    at_risk_after: timedelta
    churn_after: timedelta
    per_product: Mapping[str, tuple[timedelta, timedelta]] = field(default_factory=dict)
    hold_above: float = 0.5
    hold_min: int = 10

    def thresholds(self, product_id: str | None) -> tuple[timedelta, timedelta]:
        """(at_risk_after, churn_after) for a product."""
        return self.per_product.get(product_id or "", (self.at_risk_after, self.churn_after))

    def earliest(self) -> timedelta:
        """The shortest silence that moves any installation (the sweep's index bound)."""
        return min([self.at_risk_after, *(a for a, _ in self.per_product.values())])

    def target(self, status: str, silent_for: timedelta, product_id: str | None) -> str:
        """The status that ``silent_for`` of silence calls for (never a step back)."""
        at_risk, churned = self.thresholds(product_id)
        if silent_for >= churned:
            return InstallationStatus.CHURNED
        if silent_for >= at_risk and status == InstallationStatus.ACTIVE:
            return InstallationStatus.AT_RISK
        return status

    def mass(self, count: int, of: int) -> bool:
        """Whether ``count`` transitions out of ``of`` installations in use look like an
        outage rather than churn."""
        return count >= self.hold_min and of > 0 and count / of > self.hold_above

"""The words of states and signals (docs/tables.md, docs/signals.md), spelled once.

The projector's rules, its documents and metrics labels, the signal kinds and the
simulation take their words from here. Each member is its own string
(``InstallationStatus.ACTIVE == "active"``, with the same hash), so rows, labels and
documents hold plain strings. orjson refuses enum members as dict keys: key a mapping
that orjson serialises by ``member.value``.
"""

from enum import StrEnum
from typing import Final


class Segment(StrEnum):
    """What kind of customer: by orders, and by installations when there is no order."""

    LOYAL = "loyal"  # at least loyal_min_orders orders (default 2)
    ONE_TIME = "one_time"  # one order
    PROSPECT = "prospect"  # no order, an installation
    SUSPECT = "suspect"  # no order, no installation


class CustomerStatus(StrEnum):
    """Whether a customer uses what they bought."""

    ACTIVE = "active"  # an installation in use
    LAPSED = "lapsed"  # orders and installations, none in use
    NEVER_INSTALLED = "never_installed"  # orders, never an installation
    NONE = "none"  # no order and nothing in use


class InstallationStatus(StrEnum):
    """Where an installation is in its life: by its silence, or uninstalled."""

    ACTIVE = "active"
    AT_RISK = "at_risk"  # silent for at_risk_after
    CHURNED = "churned"  # silent for churn_after
    UNINSTALLED = "uninstalled"


class SignalKind(StrEnum):
    """The status changes that are churn signals."""

    INSTALLATION_AT_RISK = "installation.at_risk"
    INSTALLATION_CHURNED = "installation.churned"
    INSTALLATION_REACTIVATED = "installation.reactivated"
    INSTALLATION_UNINSTALLED = "installation.uninstalled"
    CUSTOMER_LAPSED = "customer.lapsed"
    CUSTOMER_REACTIVATED = "customer.reactivated"


# The customer base: the segments of customers who bought.
PAYING: Final = (Segment.LOYAL, Segment.ONE_TIME)
# The installed base: the statuses of installations in use.
IN_USE: Final = frozenset({InstallationStatus.ACTIVE, InstallationStatus.AT_RISK})

"""The status vocabulary: every word a segment, a status or a signal kind may be.

The projector's one copy: the rules, the documents (and so the OpenAPI enums), the
metrics' label values and the signal kinds all take their words from here.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

Segment = Literal["loyal", "one_time", "prospect", "suspect"]
CustomerStatus = Literal["active", "lapsed", "never_installed", "none"]
InstallationStatus = Literal["active", "at_risk", "churned", "uninstalled"]
SignalKind = Literal[
    "installation.at_risk",
    "installation.churned",
    "installation.reactivated",
    "installation.uninstalled",
    "customer.lapsed",
    "customer.reactivated",
]

# The same words as plain strings, in the documents' order (rows hold strings).
SEGMENTS: Final[tuple[str, ...]] = get_args(Segment)
CUSTOMER_STATUSES: Final[tuple[str, ...]] = get_args(CustomerStatus)
INSTALLATION_STATUSES: Final[tuple[str, ...]] = get_args(InstallationStatus)
SIGNAL_KINDS: Final[tuple[str, ...]] = get_args(SignalKind)

LOYAL, ONE_TIME, PROSPECT, SUSPECT = SEGMENTS
ACTIVE, LAPSED, NEVER_INSTALLED, NONE = CUSTOMER_STATUSES
_, AT_RISK, CHURNED, UNINSTALLED = INSTALLATION_STATUSES
(
    INSTALLATION_AT_RISK,
    INSTALLATION_CHURNED,
    INSTALLATION_REACTIVATED,
    INSTALLATION_UNINSTALLED,
    CUSTOMER_LAPSED,
    CUSTOMER_REACTIVATED,
) = SIGNAL_KINDS
PAYING: Final = (LOYAL, ONE_TIME)  # the customer base (contract section 3)
IN_USE: Final = frozenset({ACTIVE, AT_RISK})  # the installed base

"""When a batch changed a customer's status: at the installation change that caused it.

A customer comes back when one of its installations comes into use (reactivated,
installed, or given to it): at that installation's change, dated by its events. It
lapses when its last one leaves use: at the latest time one of its installations left
use (an uninstall, or a churn deadline), read from the stored rows. Neither depends on
how the records were grouped into batches, nor on the order of the sweeps.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from basewatch_projector.rules.installation import Installation
from basewatch_projector.rules.policy import Policy
from basewatch_shared.contract.vocabulary import IN_USE, CustomerStatus, InstallationStatus

Change = tuple[Installation | None, Installation]


def customer_times(
    changes: Iterable[Change],
    revived: Mapping[str, datetime],
    lapses: Mapping[str, datetime],
    fallback: datetime,
) -> Callable[[str, str], datetime]:
    """``when(customer_id, new_status)``: a customer back in use at its earliest
    installation that came into use in ``changes``; a lapsed one at ``lapses`` (when its
    last installation left use); else ``fallback``."""
    came: dict[str, datetime] = {}
    for before, after in changes:
        used_before = before is not None and before.status in IN_USE
        owner_before = before.customer_id if before is not None else None
        owner = after.customer_id
        if owner and after.status in IN_USE and (not used_before or owner_before != owner):
            moment = _moment(before, after, revived)
            if moment is not None:
                came[owner] = min(moment, came.get(owner, moment))

    def when(customer_id: str, status: str) -> datetime:
        chosen = came if status == CustomerStatus.ACTIVE else lapses
        return chosen.get(customer_id, fallback)

    return when


def left_use(
    policy: Policy,
    status: str,
    silent_since: datetime | None,
    uninstalled_at: datetime | None,
    product_id: str | None,
) -> datetime | None:
    """When an installation out of use left it: its uninstall, or its churn deadline."""
    if status == InstallationStatus.UNINSTALLED:
        return uninstalled_at
    if status == InstallationStatus.CHURNED and silent_since is not None:
        return silent_since + policy.thresholds(product_id)[1]
    return None


def _moment(
    before: Installation | None, after: Installation, revived: Mapping[str, datetime]
) -> datetime | None:
    """When an installation came into use: its revival, else when it got its owner."""
    if before is None or before.status != after.status:
        return revived.get(after.installation_id) or after.activity_at
    stamp = after.attr_times.get("customer_id")
    return datetime.fromisoformat(stamp[0]) if stamp else None

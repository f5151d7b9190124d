"""When a batch changed a customer's status: at the installation change that caused it.

A customer comes back when one of its installations comes into use (reactivated,
installed, or given to it), and lapses when its last one leaves use (uninstalled, or
given away). The time is that installation change's own time, taken from its events,
so it does not depend on how the records were grouped into batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from basewatch_projector.rules.installation import Installation
from basewatch_shared.contract.vocabulary import IN_USE, CustomerStatus

Change = tuple[Installation | None, Installation]


def customer_times(
    changes: Iterable[Change], revived: Mapping[str, datetime], fallback: datetime
) -> Callable[[str, str], datetime]:
    """``when(customer_id, new_status)``: an active customer's earliest installation
    that came into use, a lapsed one's latest that left use (``fallback`` if none)."""
    came: dict[str, datetime] = {}
    left: dict[str, datetime] = {}
    for before, after in changes:
        used_before = before is not None and before.status in IN_USE
        owner_before = before.customer_id if before is not None else None
        used_after = after.status in IN_USE
        moment = _moment(before, after, revived)
        if moment is None:
            continue
        if (
            used_after
            and after.customer_id
            and (not used_before or owner_before != after.customer_id)
        ):
            came[after.customer_id] = min(moment, came.get(after.customer_id, moment))
        if used_before and owner_before and (not used_after or after.customer_id != owner_before):
            left[owner_before] = max(moment, left.get(owner_before, moment))

    def when(customer_id: str, status: str) -> datetime:
        chosen = came if status == CustomerStatus.ACTIVE else left
        return chosen.get(customer_id, fallback)

    return when


def _moment(
    before: Installation | None, after: Installation, revived: Mapping[str, datetime]
) -> datetime | None:
    """The time of an installation's change: its new status's, else its new owner's."""
    if before is None or before.status != after.status:
        if after.status not in IN_USE:
            return after.uninstalled_at
        return revived.get(after.installation_id) or after.activity_at
    stamp = after.attr_times.get("customer_id")
    return datetime.fromisoformat(stamp[0]) if stamp else None

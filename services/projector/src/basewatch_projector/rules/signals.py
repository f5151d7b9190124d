"""Churn signals (docs/signals.md): which status changes are signals, as rows.

A signal row is stored in the same transaction as the status change it reports
(``projection/signals.py``), so a change without its signal, or the reverse, cannot be
committed. The rows are the feed and the outbox that ``outbox.py`` publishes from.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Final

from basewatch_projector.rules.installation import Installation
from basewatch_shared.contract.vocabulary import CustomerStatus, InstallationStatus, SignalKind

Row = dict[str, Any]
# Told of the signal rows a committed transaction stored (to count and publish them).
OnSignals = Callable[[Sequence[Row]], None]
_INSTALLATION_KINDS: Final[dict[str, SignalKind]] = {
    InstallationStatus.AT_RISK: SignalKind.INSTALLATION_AT_RISK,
    InstallationStatus.CHURNED: SignalKind.INSTALLATION_CHURNED,
    InstallationStatus.ACTIVE: SignalKind.INSTALLATION_REACTIVATED,
    InstallationStatus.UNINSTALLED: SignalKind.INSTALLATION_UNINSTALLED,
}
_CUSTOMER_KINDS: Final[dict[tuple[str, str], SignalKind]] = {
    (CustomerStatus.ACTIVE, CustomerStatus.LAPSED): SignalKind.CUSTOMER_LAPSED,
    (CustomerStatus.LAPSED, CustomerStatus.ACTIVE): SignalKind.CUSTOMER_REACTIVATED,
}


def installation_kind(before: str, after: str) -> SignalKind | None:
    """The signal for an installation's status change, or None if it is not one."""
    return None if before == after else _INSTALLATION_KINDS.get(after)


def customer_kind(before: str, after: str) -> SignalKind | None:
    """customer.lapsed (active -> lapsed) and customer.reactivated (lapsed -> active)."""
    return _CUSTOMER_KINDS.get((before, after))


def signal_row(
    kind: str,
    *,
    previous: str,
    status: str,
    occurred_at: datetime,
    detected_at: datetime,
    customer_id: str | None,
    installation: Any = None,
) -> Row:
    """One signal row; ``installation`` (any object with its ids and ``silent_since``)
    for an installation's signal, None for a customer's."""
    return {
        "kind": kind,
        "installation_id": getattr(installation, "installation_id", None),
        "customer_id": customer_id,
        "product_id": getattr(installation, "product_id", None),
        "previous_status": previous,
        "status": status,
        "occurred_at": occurred_at,
        "detected_at": detected_at,
        "silent_since": getattr(installation, "silent_since", None),
    }


def installation_signals(
    changes: Iterable[tuple[Installation | None, Installation]],
    revived: Mapping[str, datetime],
    detected_at: datetime,
) -> list[Row]:
    """Signal rows for installations whose status changed, each at its own time: the
    uninstall's, or the activity that brought it back (``revived``, else its activity)."""
    rows = []
    for before, after in changes:
        # A new installation starts active, so that an install and an uninstall signal the
        # same whether they arrive in one batch or in two.
        previous = before.status if before is not None else InstallationStatus.ACTIVE
        kind = installation_kind(previous, after.status)
        if kind is None:
            continue
        uninstalled = kind == SignalKind.INSTALLATION_UNINSTALLED
        own = after.uninstalled_at if uninstalled else revived.get(after.installation_id)
        when = own or after.activity_at or detected_at
        rows.append(
            signal_row(
                kind,
                previous=previous,
                status=after.status,
                occurred_at=when,
                detected_at=detected_at,
                customer_id=after.customer_id,
                installation=after,
            )
        )
    return rows


def customer_signals(
    changes: Iterable[tuple[str, str, str]],
    occurred_at: Callable[[str, str], datetime],
    detected_at: datetime,
) -> list[Row]:
    """Signal rows for customers that went lapsed or came back, each at
    ``occurred_at(customer_id, new_status)``: when the installation change that caused
    it happened."""
    rows = []
    for customer_id, before, after in changes:
        kind = customer_kind(before, after)
        if kind is not None:
            rows.append(
                signal_row(
                    kind,
                    previous=before,
                    status=after,
                    occurred_at=occurred_at(customer_id, after),
                    detected_at=detected_at,
                    customer_id=customer_id,
                )
            )
    return rows

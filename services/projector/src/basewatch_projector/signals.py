"""Churn signals: which status changes are signals, and storing them (docs/signals.md).

A signal row is written in the same transaction as the status change it reports, so a
change without its signal (or the reverse) cannot be committed. The rows are the feed
and the outbox that ``outbox.py`` publishes from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.projection import ACTIVE, AT_RISK, CHURNED, UNINSTALLED, Installation
from basewatch_projector.tables import signals

KINDS = (
    "installation.at_risk",
    "installation.churned",
    "installation.reactivated",
    "installation.uninstalled",
    "customer.lapsed",
    "customer.reactivated",
)


def installation_kind(before: str, after: str) -> str | None:
    """The signal for an installation's status change, or None if it is not one."""
    if before == after:
        return None
    if after == UNINSTALLED:
        return "installation.uninstalled"
    if after == ACTIVE:
        return "installation.reactivated"
    if after in (AT_RISK, CHURNED):
        return f"installation.{after}"
    return None


def customer_kind(before: str, after: str) -> str | None:
    """customer.lapsed (active -> lapsed) and customer.reactivated (lapsed -> active)."""
    if (before, after) == ("active", "lapsed"):
        return "customer.lapsed"
    if (before, after) == ("lapsed", "active"):
        return "customer.reactivated"
    return None


def installation_signals(
    changes: Iterable[tuple[Installation | None, Installation]],
    occurred_at: datetime | None,
    detected_at: datetime,
) -> list[dict[str, Any]]:
    """Signal rows for installations whose status changed (``occurred_at`` None: the
    installation's own activity or uninstall time)."""
    rows = []
    for before, after in changes:
        # A new installation starts active, so that an install and an uninstall signal the
        # same whether they arrive in one batch or in two.
        previous = before.status if before is not None else ACTIVE
        kind = installation_kind(previous, after.status)
        if kind is None:
            continue
        when = (
            occurred_at
            or (after.uninstalled_at if kind == "installation.uninstalled" else after.activity_at)
            or detected_at
        )
        rows.append(
            {
                "kind": kind,
                "installation_id": after.installation_id,
                "customer_id": after.customer_id,
                "product_id": after.product_id,
                "previous_status": previous,
                "status": after.status,
                "occurred_at": when,
                "detected_at": detected_at,
                "silent_since": after.silent_since,
            }
        )
    return rows


def customer_signals(
    changes: Iterable[tuple[str, str, str]], occurred_at: datetime, detected_at: datetime
) -> list[dict[str, Any]]:
    """Signal rows for customers that went lapsed or came back."""
    rows = []
    for customer_id, before, after in changes:
        kind = customer_kind(before, after)
        if kind is not None:
            rows.append(
                {
                    "kind": kind,
                    "installation_id": None,
                    "customer_id": customer_id,
                    "product_id": None,
                    "previous_status": before,
                    "status": after,
                    "occurred_at": occurred_at,
                    "detected_at": detected_at,
                    "silent_since": None,
                }
            )
    return rows


async def store_signals(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert signal rows (ids ascend in insertion order: the feed's order)."""
    if rows:
        await conn.execute(insert(signals), list(rows))

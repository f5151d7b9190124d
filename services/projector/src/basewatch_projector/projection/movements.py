"""Movements of the bases (GET /v1/movements), counted where the moves happen.

The installed base is the installations in use (``IN_USE``), per product; the customers'
base here is the retained customers: those who bought and have not lapsed (the customer
base of docs/tables.md less its ``lapsed`` customers, whom lapsing takes out).
A batch or a sweep that moves an installation or a customer in or out of its base adds
the moves to ``movements_pending`` in its own transaction (one statement, none when
nothing moved); the history sample at the next boundary takes them
(``history/movements.py``). So the sample before a boundary plus the movements at it is
the sample at it, whatever the batches, the instances' partitions, or a replay.

Kinds (every value counts rows that moved, never negative, except ``relabelled``):
installations ``new`` (first in use), ``reactivated`` (in use again after churned or
uninstalled), ``churned``, ``uninstalled``, ``relabelled`` (+1 to the product an
installation in use now names, -1 to the one it named: a late install naming it);
customers ``new`` (entered the base for the first time: a first purchase),
``reactivated`` (lapsed, and in use again), ``lapsed``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Final

from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.rules.installation import Installation
from basewatch_projector.storage.bulk import upsert
from basewatch_projector.storage.tables import movements_pending
from basewatch_shared.contract.vocabulary import IN_USE, CustomerStatus, InstallationStatus

Key = tuple[str, str, str]  # (base, kind, product_id or "")
Moves = Counter[Key]
# Per base, each kind's sign in the net movement.
SIGNS: Final[dict[str, dict[str, int]]] = {
    "installations": {
        "new": 1,
        "reactivated": 1,
        "churned": -1,
        "uninstalled": -1,
        "relabelled": 1,
    },
    "customers": {"new": 1, "reactivated": 1, "lapsed": -1},
}


def installation_moves(changes: Iterable[tuple[Installation | None, Installation]]) -> Moves:
    """The moves of installations in and out of their product's base (before, after)."""
    moves: Moves = Counter()
    for before, after in changes:
        was = before is not None and before.status in IN_USE
        is_in = after.status in IN_USE
        if was and is_in:
            assert before is not None
            if before.product_id != after.product_id:
                moves["installations", "relabelled", before.product_id or ""] -= 1
                moves["installations", "relabelled", after.product_id or ""] += 1
        elif is_in:
            kind = "new" if before is None else "reactivated"
            moves["installations", kind, after.product_id or ""] += 1
        elif was:
            assert before is not None
            kind = "churned" if after.status == InstallationStatus.CHURNED else "uninstalled"
            moves["installations", kind, before.product_id or ""] += 1
    return moves


def retained(orders: int, status: str) -> bool:
    """Whether a customer is retained: bought, and not lapsed."""
    return orders > 0 and status != CustomerStatus.LAPSED


def customer_move(old_orders: int, old_status: str, orders: int, status: str) -> str | None:
    """The kind of a customer's move in or out of the base, or None."""
    was, is_in = retained(old_orders, old_status), retained(orders, status)
    if was == is_in:
        return None
    if was:
        return "lapsed"
    return "new" if old_orders == 0 else "reactivated"


async def add_pending(conn: AsyncConnection, moves: Moves) -> None:
    """Add ``moves`` to the pending counts, in the caller's transaction (rows in key
    order, so that concurrent instances lock them in one order)."""
    rows = [
        {"base": base, "kind": kind, "product_id": product, "value": n}
        for (base, kind, product), n in sorted(moves.items())
        if n
    ]
    if not rows:
        return
    await upsert(
        conn, movements_pending, rows, ("base", "kind", "product_id"), ["value"], adding=True
    )

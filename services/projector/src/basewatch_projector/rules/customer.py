"""A customer's projection rules (docs/tables.md): traits, segment and status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from basewatch_projector.rules.lww import Stamp, lww_merge, stamp_of
from basewatch_shared.contract.events import Identify
from basewatch_shared.contract.vocabulary import CustomerStatus, Segment


def merge_traits(
    traits: dict[str, Any], times: dict[str, Stamp], events: Iterable[Identify]
) -> tuple[dict[str, Any], dict[str, Stamp]]:
    """Per trait, the value of the latest identify (by occurred_at, then event_id) wins."""
    for event in events:
        given = event.traits.model_dump(exclude_none=True) if event.traits else {}
        traits, times = lww_merge(traits, times, given, stamp_of(event.occurred_at, event.event_id))
    return traits, times


def segment(orders: int, installations: int, loyal_min_orders: int) -> Segment:
    """The four kinds of a customer base (docs/tables.md)."""
    if orders >= loyal_min_orders:
        return Segment.LOYAL
    if orders >= 1:
        return Segment.ONE_TIME
    return Segment.PROSPECT if installations else Segment.SUSPECT


def customer_status(orders: int, installations: int, in_use: int) -> CustomerStatus:
    """active (something in use), lapsed, never_installed, or none (never purchased)."""
    if in_use:
        return CustomerStatus.ACTIVE
    if not orders:
        return CustomerStatus.NONE
    return CustomerStatus.LAPSED if installations else CustomerStatus.NEVER_INSTALLED

"""A customer's projection rules (contract section 3): traits, segment and status."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from basewatch_projector.rules.lww import Stamp, lww_merge, stamp_of
from basewatch_projector.rules.vocabulary import (
    ACTIVE,
    LAPSED,
    LOYAL,
    NEVER_INSTALLED,
    NONE,
    ONE_TIME,
    PROSPECT,
    SUSPECT,
)
from basewatch_shared.events import Identify


def merge_traits(
    traits: dict[str, Any], times: dict[str, Stamp], events: Iterable[Identify]
) -> tuple[dict[str, Any], dict[str, Stamp]]:
    """Per trait, the value of the latest identify (by occurred_at, then event_id) wins."""
    for event in events:
        given = event.traits.model_dump(exclude_none=True) if event.traits else {}
        traits, times = lww_merge(traits, times, given, stamp_of(event.occurred_at, event.event_id))
    return traits, times


def segment(orders: int, installations: int, loyal_min_orders: int) -> str:
    """The four kinds of a customer base (contract section 3)."""
    if orders >= loyal_min_orders:
        return LOYAL
    if orders >= 1:
        return ONE_TIME
    return PROSPECT if installations else SUSPECT


def customer_status(orders: int, installations: int, in_use: int) -> str:
    """active (something in use), lapsed, never_installed, or none (never purchased)."""
    if in_use:
        return ACTIVE
    if not orders:
        return NONE
    return LAPSED if installations else NEVER_INSTALLED

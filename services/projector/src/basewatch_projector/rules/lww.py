"""Last-writer-wins: the order-independent merge every projection rule relies on.

A value carries a stamp, ``[occurred_at ISO, event_id]``, compared as a tuple: the
later event wins, ties go to the greater event id, so any arrival order converges.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Stamp = list[str]  # [occurred_at ISO, event_id]: compared as a tuple, deterministic


def stamp_of(occurred_at: datetime, event_id: str) -> Stamp:
    """The ordering key of a last-writer-wins value."""
    return [occurred_at.isoformat(), event_id]


def lww_merge(
    values: dict[str, Any], times: dict[str, Stamp], updates: dict[str, Any], stamp: Stamp
) -> tuple[dict[str, Any], dict[str, Stamp]]:
    """Per key, keep the value with the latest stamp: the same result in any order."""
    newer = {
        k: v for k, v in updates.items() if v is not None and (k not in times or stamp > times[k])
    }
    if not newer:
        return values, times
    return {**values, **newer}, {**times, **dict.fromkeys(newer, stamp)}


def later(a: datetime | None, b: datetime | None) -> datetime | None:
    """The later of two times, either of which may be unknown."""
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)

"""The projection rules of contract section 3, as pure functions over rows and events.

Every rule is order-independent, so late, reordered and redelivered events converge
to the same rows: attributes are last-writer-wins by ``occurred_at`` (ties broken by
``event_id``), heartbeats only move ``last_heartbeat_at`` forward, and an uninstall
holds against every activity that happened before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import singledispatch
from typing import Any, cast

from basewatch_shared.events import Heartbeat, Identify, Install, Uninstall

Row = dict[str, Any]

ACTIVE, AT_RISK, CHURNED, UNINSTALLED = "active", "at_risk", "churned", "uninstalled"
IN_USE = frozenset({ACTIVE, AT_RISK})


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(frozen=True, slots=True)
class Installation:
    """One installation's state, as the ``installations`` row holds it."""

    installation_id: str
    first_seen_at: datetime
    status: str = ACTIVE
    status_changed_at: datetime | None = None
    customer_id: str | None = None
    product_id: str | None = None
    version: str | None = None
    platform: str | None = None
    attrs_at: datetime | None = None
    installed_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    usage: dict[str, Any] | None = None
    usage_at: datetime | None = None
    uninstalled_at: datetime | None = None

    @property
    def activity_at(self) -> datetime | None:
        """The later of installed_at and last_heartbeat_at: silence is measured from it."""
        return _later(self.installed_at, self.last_heartbeat_at)

    @property
    def is_uninstalled(self) -> bool:
        """An uninstall holds against every install or heartbeat that happened before it."""
        if self.uninstalled_at is None:
            return False
        activity = self.activity_at
        return activity is None or self.uninstalled_at >= activity


def _attrs(inst: Installation, at: datetime, **values: str | None) -> Installation:
    """Last-writer-wins for the descriptive attributes; absent values keep the old ones."""
    if inst.attrs_at is not None and at < inst.attrs_at:
        # Older than what we hold: only fill what is still unknown.
        fill = {k: v for k, v in values.items() if v is not None and getattr(inst, k) is None}
        return replace(inst, **cast(dict[str, Any], fill))
    newer = {k: v for k, v in values.items() if v is not None}
    return replace(inst, attrs_at=at, **cast(dict[str, Any], newer))


@singledispatch
def fold(event: object, inst: Installation) -> Installation:
    """Apply one telemetry event to an installation."""
    raise TypeError(f"not a telemetry event: {type(event).__name__}")


@fold.register
def _install(event: Install, inst: Installation) -> Installation:
    inst = _attrs(
        inst,
        event.occurred_at,
        customer_id=event.customer_id,
        product_id=event.product_id,
        version=event.version,
        platform=event.platform,
    )
    # The latest install counts: a reinstall after an uninstall starts the clock again.
    return replace(inst, installed_at=_later(inst.installed_at, event.occurred_at))


@fold.register
def _heartbeat(event: Heartbeat, inst: Installation) -> Installation:
    inst = _attrs(
        inst,
        event.occurred_at,
        customer_id=event.customer_id,
        product_id=event.product_id,
        version=event.version,
        platform=event.platform,
    )
    if event.usage is not None and (inst.usage_at is None or event.occurred_at >= inst.usage_at):
        inst = replace(inst, usage=dict(event.usage), usage_at=event.occurred_at)
    return replace(inst, last_heartbeat_at=_later(inst.last_heartbeat_at, event.occurred_at))


@fold.register
def _uninstall(event: Uninstall, inst: Installation) -> Installation:
    return replace(inst, uninstalled_at=_later(inst.uninstalled_at, event.occurred_at))


def apply_telemetry(
    inst: Installation, events: Iterable[Install | Heartbeat | Uninstall], now: datetime
) -> Installation:
    """Fold a partition's events for one installation and settle its status.

    New activity makes an at_risk or churned installation active again (reactivated);
    the time-based moves to at_risk and churned belong to the churn sweep.
    """
    before = inst.activity_at
    for event in events:
        inst = fold(event, inst)
    if inst.is_uninstalled:
        status = UNINSTALLED
    elif inst.status == UNINSTALLED or (
        inst.status in (AT_RISK, CHURNED) and _later(before, inst.activity_at) != before
    ):
        status = ACTIVE
    else:
        status = inst.status
    if status != inst.status or inst.status_changed_at is None:
        inst = replace(inst, status=status, status_changed_at=now)
    return inst


def merge_traits(
    traits: dict[str, Any], times: dict[str, list[str]], events: Iterable[Identify]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """Per trait, the value of the latest identify (by occurred_at, then event_id) wins."""
    traits, times = dict(traits), dict(times)
    for event in events:
        stamp = [event.occurred_at.isoformat(), event.event_id]
        given = event.traits.model_dump(exclude_none=True) if event.traits else {}
        for key, value in given.items():
            if key not in times or stamp > times[key]:
                traits[key] = value
                times[key] = stamp
    return traits, times


def segment(orders: int, installations: int, loyal_min_orders: int) -> str:
    """The four kinds of a customer base (contract section 3)."""
    if orders >= loyal_min_orders:
        return "loyal"
    if orders >= 1:
        return "one_time"
    return "prospect" if installations else "suspect"


def customer_status(orders: int, installations: int, in_use: int) -> str:
    """active (something in use), lapsed, never_installed, or none (never purchased)."""
    if in_use:
        return "active"
    if not orders:
        return "none"
    return "lapsed" if installations else "never_installed"

"""The projection rules of docs/tables.md, as pure functions over rows and events.

Every rule is order-independent, so late, reordered and redelivered events converge
to the same rows: attributes are last-writer-wins by ``occurred_at`` (ties broken by
``event_id``), heartbeats only move ``last_heartbeat_at`` forward, and an uninstall
holds against every activity that happened before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import singledispatch
from typing import Any

from basewatch_shared.contract.events import Heartbeat, Identify, Install, Uninstall

Row = dict[str, Any]

ACTIVE, AT_RISK, CHURNED, UNINSTALLED = "active", "at_risk", "churned", "uninstalled"
IN_USE = frozenset({ACTIVE, AT_RISK})
ATTRIBUTES = ("customer_id", "product_id", "version", "platform")


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


@dataclass(slots=True)
class Installation:
    """One installation's state, as the ``installations`` row holds it.

    Mutable only inside ``apply_telemetry``, which works on its own copy.
    """

    installation_id: str
    first_seen_at: datetime
    status: str = ACTIVE
    status_changed_at: datetime | None = None
    customer_id: str | None = None
    product_id: str | None = None
    version: str | None = None
    platform: str | None = None
    attr_times: dict[str, Stamp] = field(default_factory=dict)
    installed_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    usage: dict[str, Any] | None = None
    usage_at: datetime | None = None
    uninstalled_at: datetime | None = None
    silent_since: datetime | None = None
    partition: int | None = None

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


def _attrs(inst: Installation, event: Install | Heartbeat) -> None:
    """Last-writer-wins per attribute; an event that omits one leaves it alone."""
    stamp: Stamp | None = None
    for name in ATTRIBUTES:
        value = getattr(event, name)
        if value is None:
            continue
        stamp = stamp or stamp_of(event.occurred_at, event.event_id)
        held = inst.attr_times.get(name)
        if held is None or stamp > held:
            setattr(inst, name, value)
            inst.attr_times[name] = stamp


# The fold handlers mutate a private working copy (made once per batch in
# apply_telemetry): copying a frozen row per event cost more than the rest of the fold.
@singledispatch
def fold(event: object, inst: Installation) -> None:
    """Apply one telemetry event to a working copy of an installation."""
    raise TypeError(f"not a telemetry event: {type(event).__name__}")


@fold.register
def _install(event: Install, inst: Installation) -> None:
    _attrs(inst, event)
    # The latest install counts: a reinstall after an uninstall starts the clock again.
    inst.installed_at = _later(inst.installed_at, event.occurred_at)


@fold.register
def _heartbeat(event: Heartbeat, inst: Installation) -> None:
    _attrs(inst, event)
    if event.usage is not None:
        # Last writer wins by (occurred_at, event_id) like the attributes: two heartbeats
        # at the same instant must not leave whichever arrived last. A row stored before
        # the usage had a stamp gets one that any later-or-equal heartbeat beats.
        stamp = stamp_of(event.occurred_at, event.event_id)
        held = inst.attr_times.get("usage")
        if held is None and inst.usage_at is not None:
            held = stamp_of(inst.usage_at, "")
        if held is None or stamp > held:
            inst.usage, inst.usage_at = dict(event.usage), event.occurred_at
            inst.attr_times["usage"] = stamp
    inst.last_heartbeat_at = _later(inst.last_heartbeat_at, event.occurred_at)


@fold.register
def _uninstall(event: Uninstall, inst: Installation) -> None:
    inst.uninstalled_at = _later(inst.uninstalled_at, event.occurred_at)


def apply_telemetry(
    inst: Installation, events: Iterable[Install | Heartbeat | Uninstall], now: datetime
) -> Installation:
    """Fold a batch's events for one installation and settle its status; ``inst`` is untouched.

    New activity makes an at_risk or churned installation active again (reactivated);
    the time-based moves to at_risk and churned belong to the churn sweep.
    """
    before = inst.activity_at
    inst = replace(inst, attr_times=dict(inst.attr_times))
    for event in events:
        fold(event, inst)
    if inst.is_uninstalled:
        status = UNINSTALLED
    elif inst.status == UNINSTALLED or (
        inst.status in (AT_RISK, CHURNED) and _later(before, inst.activity_at) != before
    ):
        status = ACTIVE
    else:
        status = inst.status
    if status != inst.status or inst.status_changed_at is None:
        inst.status, inst.status_changed_at = status, now
    inst.silent_since = inst.activity_at
    return inst


def merge_traits(
    traits: dict[str, Any], times: dict[str, Stamp], events: Iterable[Identify]
) -> tuple[dict[str, Any], dict[str, Stamp]]:
    """Per trait, the value of the latest identify (by occurred_at, then event_id) wins."""
    for event in events:
        given = event.traits.model_dump(exclude_none=True) if event.traits else {}
        traits, times = lww_merge(traits, times, given, stamp_of(event.occurred_at, event.event_id))
    return traits, times


def segment(orders: int, installations: int, loyal_min_orders: int) -> str:
    """The four kinds of a customer base (docs/tables.md)."""
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

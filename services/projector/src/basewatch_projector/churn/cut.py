"""Where a fetched batch is cut, per partition: at the pending history boundary, and
where a telemetry partition's clock would reach its next silence deadline.

``consume/holding.py`` holds every record of a partition from its first cut record on,
so a sweep on that partition's clock applies the deadline before any record received
at or after it (the next heartbeat of a silent installation among them). The deadline
is a lower bound kept per partition (``PartitionPosition.deadline``): exact after each
sweep, lowered by each batch applied, and lowered here by each record admitted, to the
earliest deadline that record could create (its ``occurred_at`` plus the shortest
threshold), so a batch never runs past a deadline one of its own records set.

A batch is also cut where an installation would turn twice: at an uninstall of one the
batch already touched, and at any event after an uninstall in it. A batch's fold settles
one status per installation, so without the cut an uninstall and the reinstall a second
later would go from active to active and signal nothing, when applied one by one they
signal each turn: how the records were batched would decide the signals.

And a batch is cut at a record of an installation already overdue when the batch
admitted it (an install or heartbeat that happened longer ago than the shortest
threshold, as a backfill or a dead installation sends): applied on its own, the
installation would be swept at_risk or churned before the next record that moves it
(its comeback heartbeat, a later activity, an uninstall). A heartbeat no later than
its latest activity in the batch moves nothing and does not cut: were the deadline
really due, such a heartbeat would be stale and revive nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from basewatch_projector.rules.clock import PartitionPosition
from basewatch_shared.contract.events import Heartbeat, Install, Uninstall
from basewatch_shared.contract.records import Record


class Cut:
    """Decides, record by record in log order, which records wait (one fetch's worth)."""

    def __init__(
        self,
        boundary: datetime | None,
        positions: Mapping[Any, PartitionPosition],
        *,
        telemetry_topic: str,
        earliest: timedelta,
    ) -> None:
        self._boundary, self._positions = boundary, positions
        self._telemetry, self._earliest = telemetry_topic, earliest
        self._clock: dict[tuple[str, int], datetime | None] = {}
        self._deadline: dict[tuple[str, int], datetime | None] = {}
        self._touched: dict[str, bool] = {}  # installation id: whether it was uninstalled
        self._activity: dict[str, datetime] = {}  # installation id: its latest activity

    def holds(self, tp: tuple[str, int], record: Record | None) -> bool:
        """Whether ``record`` (the next one of ``tp`` not held) must wait; if not, it is
        admitted and moves the partition's clock and deadline bound."""
        if record is None:
            return False  # nothing to time: dead-lettered wherever it falls
        received = record.received_at
        if self._boundary is None or received >= self._boundary:
            return True
        if tp[0] != self._telemetry:
            return False
        if tp not in self._clock:
            position = self._positions.get(tp)
            self._clock[tp] = None if position is None else position.last_received_at
            self._deadline[tp] = None if position is None else position.deadline
        clock, deadline = self._clock[tp], self._deadline[tp]
        clock = received if clock is None else max(clock, received)
        if deadline is None or clock >= deadline:
            return True  # not known yet, or passed: sweep first
        event = record.event
        if isinstance(event, Install | Heartbeat | Uninstall):
            iid = event.installation_id
            gone = self._touched.get(iid)
            if gone or (gone is not None and isinstance(event, Uninstall)):
                return True  # a second turn: in the next batch
            if self._overdue(iid, clock) and not (
                isinstance(event, Heartbeat) and event.occurred_at <= self._activity[iid]
            ):
                return True  # a sweep first, as when this record came on its own
            self._touched[iid] = isinstance(event, Uninstall)
        if isinstance(event, Install | Heartbeat):
            seen = self._activity.get(event.installation_id)
            if seen is None or event.occurred_at > seen:
                self._activity[event.installation_id] = event.occurred_at
            if event.occurred_at + self._earliest > clock:
                deadline = min(deadline, event.occurred_at + self._earliest)
        self._clock[tp], self._deadline[tp] = clock, deadline
        return False

    def _overdue(self, installation_id: str, clock: datetime) -> bool:
        """Whether the batch admitted activity of this installation whose earliest
        deadline the partition's clock has reached."""
        seen = self._activity.get(installation_id)
        return seen is not None and seen + self._earliest <= clock

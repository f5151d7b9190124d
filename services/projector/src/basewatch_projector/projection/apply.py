"""Apply one batch of records in the caller's transaction: the projection's unit of work."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncConnection

from basewatch_projector.projection import customers as store
from basewatch_projector.projection.erasure import apply_erasures
from basewatch_projector.projection.installations import load_installations, save_installations
from basewatch_projector.projection.known import Known
from basewatch_projector.projection.movements import add_pending, installation_moves
from basewatch_projector.projection.sales import add_sales
from basewatch_projector.projection.signals import store_signals
from basewatch_projector.rules.causes import customer_times
from basewatch_projector.rules.customer import merge_traits
from basewatch_projector.rules.installation import (
    Fresh,
    Installation,
    apply_telemetry,
    first_revival,
)
from basewatch_projector.rules.policy import Policy
from basewatch_projector.rules.signals import customer_signals, installation_signals
from basewatch_projector.storage.bulk import STATEMENT_ROWS, is_postgres
from basewatch_projector.storage.inflight import InFlight
from basewatch_shared.contract.erasure import Erasure
from basewatch_shared.contract.events import Heartbeat, Identify, Install, Purchase, Uninstall
from basewatch_shared.contract.money import to_micros
from basewatch_shared.contract.records import Record
from basewatch_shared.contract.vocabulary import CustomerStatus

Telemetry = Install | Heartbeat | Uninstall
# Installations folded between two turns of the event loop (a few milliseconds): the
# read API shares the loop, and a batch's fold in one turn held its requests ~100 ms.
FOLD_SLICE: Final = 300


@dataclass
class Applied:
    """What a batch changed: status transitions, and the duplicates it skipped by type."""

    installations: list[tuple[Installation | None, Installation]] = field(default_factory=list)
    customers: list[tuple[str, str, str]] = field(default_factory=list)
    duplicates: Counter[str] = field(default_factory=Counter)
    signals: list[dict[str, Any]] = field(default_factory=list)
    # Per installation brought back: when (rules/installation.py first_revival).
    revived: dict[str, datetime] = field(default_factory=dict)


@dataclass
class _Batch:
    """A batch's events sorted by what they change (duplicates inside it left out)."""

    telemetry: dict[str, list[Telemetry]] = field(default_factory=lambda: defaultdict(list))
    identifies: dict[str, list[Identify]] = field(default_factory=lambda: defaultdict(list))
    ledger: list[dict[str, object]] = field(default_factory=list)
    heard: dict[str, datetime] = field(default_factory=dict)  # heartbeat id -> received_at
    # Customers whose segment or status may have changed, and those an event names.
    stale: set[str] = field(default_factory=set)
    named: set[str] = field(default_factory=set)


async def apply_records(
    conn: AsyncConnection,
    records: Sequence[Record],
    *,
    loyal_min_orders: int,
    policy: Policy,
    now: datetime,
    partitions: Mapping[str, int] | None = None,
    known: Known | None = None,
    erasures: Sequence[Erasure] = (),
) -> Applied:
    """Apply ``records`` with a few multi-row statements; the caller owns the transaction.
    Installations in ``known`` (PostgreSQL) are folded without a read (projection/known.py).
    ``erasures`` are applied before any traits are written (projection/erasure.py)."""
    applied = Applied()
    batch = _sort(records, applied.duplicates)
    await asyncio.sleep(0)  # a turn for the read API (FOLD_SLICE)
    cached = known.take(batch.telemetry.keys()) if known is not None and is_postgres(conn) else {}
    fresh = _fresh(batch, policy)
    await _installations(conn, batch, applied, now, partitions or {}, fresh, cached)
    # Lock order: installations (above), then customers, sorted.
    erased = {e.customer_id for e in erasures}
    await store.touch_customers(
        conn, batch.stale | batch.identifies.keys() | batch.named | erased, now
    )
    await apply_erasures(conn, erasures, now)
    await _traits(conn, batch.identifies)
    new = await store.insert_purchases(conn, batch.ledger)
    applied.duplicates["purchase"] += len(batch.ledger) - len(new)
    await add_sales(conn, new)
    moves = installation_moves(applied.installations)
    applied.customers = await store.refresh_customers(
        conn, batch.stale, loyal_min_orders, now, moves
    )
    await add_pending(conn, moves)
    # A change is dated by the events that caused it (never the wall clock, nor how the
    # records were grouped into batches): a replay gives the live run's times.
    at = max((record.received_at for record in records), default=now)
    lapsed = [cid for cid, _, status in applied.customers if status == CustomerStatus.LAPSED]
    lapses = await store.lapse_times(conn, lapsed, policy)
    when = customer_times(applied.installations, applied.revived, lapses, at)
    applied.signals = installation_signals(
        applied.installations, applied.revived, now
    ) + customer_signals(applied.customers, when, now)
    await store_signals(conn, applied.signals)
    return applied


def _sort(records: Sequence[Record], duplicates: Counter[str]) -> _Batch:
    """Sort the events by entity; count the duplicates inside the batch by type."""
    batch = _Batch()
    seen: set[str] = set()
    for record in records:
        event = record.event
        if event.event_id in seen:  # a retry or redelivery inside this batch
            duplicates[event.type] += 1
            continue
        seen.add(event.event_id)
        if isinstance(event, Install | Heartbeat | Uninstall):
            batch.telemetry[event.installation_id].append(event)
            if isinstance(event, Heartbeat):
                batch.heard[event.event_id] = record.received_at
        elif isinstance(event, Identify):
            batch.identifies[event.customer_id].append(event)
        elif isinstance(event, Purchase):
            batch.ledger.append(_ledger_row(event, record.received_at))
    # Customers that bought may change segment and status.
    batch.stale = {str(row["customer_id"]) for row in batch.ledger}
    return batch


def _fresh(batch: _Batch, policy: Policy) -> Fresh:
    """A heartbeat is fresh when its record arrived within its product's at_risk_after."""

    def fresh(heartbeat: Heartbeat, product_id: str | None) -> bool:
        at_risk_after, _ = policy.thresholds(product_id)
        return batch.heard[heartbeat.event_id] - heartbeat.occurred_at < at_risk_after

    return fresh


async def _installations(
    conn: AsyncConnection,
    batch: _Batch,
    applied: Applied,
    now: datetime,
    partitions: Mapping[str, int],
    fresh: Fresh,
    cached: Mapping[str, tuple[Installation, datetime]],
) -> None:
    """Fold each installation's events into its row; note the customers that may change:
    the owners (old and new) of installations that appeared, changed status or owner. A
    heartbeat that only moves last_heartbeat_at touches no customer at all."""
    current = {i: state for i, (state, _) in cached.items()}
    current.update(await load_installations(conn, batch.telemetry.keys() - cached.keys()))
    expected = {i: at for i, (_, at) in cached.items()}
    async with InFlight() as writes:  # each STATEMENT_ROWS folded written while the rest fold
        folded: list[Installation] = []
        for n, (inst_id, events) in enumerate(batch.telemetry.items(), 1):
            if n % FOLD_SLICE == 0:
                await asyncio.sleep(0)  # the read API (and the next batch's decoding) go on
            after = _fold_one(inst_id, events, batch, applied, now, partitions, fresh, current)
            folded.append(after)
            if len(folded) == STATEMENT_ROWS:
                await writes.start(save_installations(conn, folded, now, expected))
                folded = []
        if folded:
            await writes.start(save_installations(conn, folded, now, expected))


def _fold_one(
    inst_id: str,
    events: list[Telemetry],
    batch: _Batch,
    applied: Applied,
    now: datetime,
    partitions: Mapping[str, int],
    fresh: Fresh,
    current: Mapping[str, Installation],
) -> Installation:
    """One installation's events folded into its new state, noted in ``applied`` and in
    the customers ``batch`` must look at."""
    before = current.get(inst_id)
    after = apply_telemetry(
        before or Installation(installation_id=inst_id, first_seen_at=now), events, now, fresh
    )
    if inst_id in partitions:
        after.partition = partitions[inst_id]
    revived = first_revival(before, events, after.product_id, fresh)
    if revived is not None:
        applied.revived[inst_id] = revived
    applied.installations.append((before, after))
    owners = {c.customer_id for c in (before, after) if c and c.customer_id}
    if before is None or (before.status, before.customer_id) != (after.status, after.customer_id):
        batch.stale.update(owners)
    # A customer an event names but who owns the installation neither before nor after
    # the batch (replaced, or named by an older event) still gets a row ("one row per
    # customer_id ever seen"), whatever the batches: rare, so the common heartbeat of an
    # unchanged owner still writes no customer row.
    batch.named.update(
        e.customer_id for e in events if e.customer_id and e.customer_id not in owners
    )
    return after


async def _traits(conn: AsyncConnection, identifies: Mapping[str, list[Identify]]) -> None:
    """Merge each identified customer's traits, last writer wins per trait."""
    if not identifies:
        return
    existing = await store.load_traits(conn, identifies.keys())
    await store.save_traits(
        conn,
        {
            cid: merge_traits(*existing.get(cid, ({}, {})), events)
            for cid, events in identifies.items()
        },
    )


def _ledger_row(event: Purchase, received_at: datetime) -> dict[str, object]:
    return {
        "event_id": event.event_id,
        "customer_id": event.customer_id,
        "order_id": event.order_id,
        "product_id": event.product_id,
        "amount_micros": to_micros(event.amount),
        "currency": event.currency,
        "quantity": event.quantity,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
    }

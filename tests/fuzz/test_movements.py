"""Property test of the movements of the bases on real databases (SQLite and PostgreSQL).

Any history, delivered in any order with redeliveries and cut into batches, with churn
sweeps and history samples between the batches at random: for every step, the size
of a base before it plus its net movement is the size after it (per product and over
all products, for both bases), and the last size is the base as the tables hold it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from basewatch_projector.churn.sweep import sweep
from basewatch_projector.history.movements import Base, movement_steps
from basewatch_projector.history.sales import sales_steps
from basewatch_projector.history.samples import claim, sample
from basewatch_projector.projection.apply import apply_records
from basewatch_projector.rules.policy import Policy
from basewatch_projector.storage.tables import (
    cohort_cells,
    customers,
    history,
    history_progress,
    installations,
    movement_totals,
    movements,
    movements_pending,
    purchases,
    sales_pending,
    sales_totals,
    signals,
)
from basewatch_shared.contract.records import Record
from basewatch_shared.contract.vocabulary import IN_USE, CustomerStatus
from tests.support.profiles import scaled
from tests.support.strategies import NOW, T0, as_dict, deliveries, histories

STEP = timedelta(hours=1)
POLICY = Policy(at_risk_after=timedelta(minutes=1), churn_after=timedelta(minutes=2))
TABLES = (
    cohort_cells,
    movement_totals,
    sales_pending,
    sales_totals,
    movements,
    movements_pending,
    history,
    history_progress,
    signals,
    purchases,
    installations,
    customers,
)


async def _sweep(conn: AsyncConnection, clock: datetime) -> None:
    await sweep(
        conn,
        clocks={0: (None, clock)},  # no earlier sweep: what is due is one jump
        now=NOW,
        policy=POLICY,
        loyal_min_orders=2,
        window=timedelta(0),
    )


async def _truth(conn: AsyncConnection, base: Base, product: str | None) -> int:
    """The base as the tables hold it now."""
    if base == "customers":
        c = customers.c
        query = select(func.count()).where(c.orders > 0, c.status != CustomerStatus.LAPSED)
    else:
        i = installations.c
        query = select(func.count()).where(i.status.in_(IN_USE))
        if product is not None:
            query = query.where(i.product_id == product)
    return int(await conn.scalar(query) or 0)


CASES: list[tuple[Base, str | None]] = [
    ("customers", None),
    ("installations", None),
    ("installations", "p1"),
    ("installations", "p2"),
]


async def _check(conn: AsyncConnection, times: list[datetime]) -> None:
    for base, product in CASES:
        got = await movement_steps(conn, base, times, STEP, product)
        before = got["opening"] or 0
        for k, size in enumerate(got["sizes"]):
            assert before + got["net"][k] == (size or 0), (base, product, k, got)
            before = size or 0
        assert before == await _truth(conn, base, product), (base, product, got)
        assert all(
            v >= 0 for m in got["movements"] if m["kind"] != "relabelled" for v in m["values"]
        )
    # Sales: one step over all time is the ledger, whatever the batches and samples.
    p = purchases.c
    units = select(p.product_id, func.sum(p.quantity)).group_by(p.product_id)
    expected = {product: {"units": int(n), "orders": 0} for product, n in await conn.execute(units)}
    for product, _, _ in await conn.execute(
        select(p.product_id, p.customer_id, p.order_id).distinct()
    ):
        expected[product]["orders"] += 1
    end, span = datetime(2100, 1, 1, tzinfo=UTC), timedelta(days=365 * 100)
    found = await sales_steps(conn, list(expected), [end], span)
    assert {k: {"units": v[0]["units"], "orders": v[0]["orders"]} for k, v in found.items()} == (
        expected
    )


@scaled(ci=100, soak=2000)
@given(data=st.data())
async def test_size_before_plus_net_is_size_after(
    migrated: AsyncEngine, data: st.DataObject
) -> None:
    history_ = data.draw(histories(), label="history")
    delivery = data.draw(deliveries(history_), label="delivery")
    plan = data.draw(
        st.lists(
            st.tuples(st.booleans(), st.integers(0, 10), st.booleans()),
            min_size=len(delivery.batches),
            max_size=len(delivery.batches),
        ),
        label="after each batch: sweep?, its clock (minutes after T0), sample?",
    )
    bucket = T0
    partitions = {e.installation_id: 0 for e in history_ if hasattr(e, "installation_id")}
    try:
        for batch, (sweeps, minutes, samples) in zip(delivery.batches, plan, strict=True):
            async with migrated.begin() as conn:
                records = [Record(event=e, received_at=T0, source="test") for e in batch]
                await apply_records(
                    conn, records, loyal_min_orders=2, policy=POLICY, now=NOW, partitions=partitions
                )
            clock = T0 + timedelta(minutes=minutes)
            if sweeps and not samples:
                async with migrated.begin() as conn:
                    await _sweep(conn, clock)
            if samples or batch is delivery.batches[-1]:
                bucket += STEP
                async with migrated.begin() as conn:
                    previous = await claim(conn, bucket, NOW)
                    assert previous is not None
                    if sweeps:
                        await _sweep(conn, clock)
                    await sample(conn, bucket, previous, STEP)
        times = [T0 + k * STEP for k in range(int((bucket - T0) / STEP) + 1)]
        async with migrated.connect() as conn:
            await _check(conn, times)
    except AssertionError as exc:
        raise AssertionError([[as_dict(e) for e in b] for b in delivery.batches]) from exc
    finally:
        async with migrated.begin() as conn:
            for table in TABLES:
                await conn.execute(delete(table))

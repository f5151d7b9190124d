"""GET /v1/cohorts on SQLite and PostgreSQL: installations by install week, in use at
the end of each week since; customers by first-purchase week, the shares active and
that bought again at each week's end: as the last history sample of each week counted."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from basewatch_projector.churn.sweep import sweep
from basewatch_projector.history.cohorts import PERIODS, Period, due, sample_cohorts
from basewatch_projector.projection.apply import apply_records
from basewatch_projector.rules.policy import Policy
from basewatch_projector.storage.migrate import migrate
from basewatch_projector.storage.tables import cohort_cells
from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import Record
from tests.support.databases import TestDatabase
from tests.support.keys import READ_AUTH
from tests.support.services import projector_app

NOW = datetime.now(UTC)
MONDAY = datetime.combine(NOW.date() - timedelta(days=NOW.weekday()), datetime.min.time(), UTC)


def _at(t: datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


B1, B2, B3 = MONDAY - timedelta(weeks=2), MONDAY - timedelta(weeks=1), MONDAY
W3 = MONDAY - timedelta(weeks=3, hours=-1)  # an hour into the week 3 weeks before this one
D = timedelta(days=1)
# Each step: its events (received as they happen), a sweep on its clock or not, and the
# history sample at its end (the last sample of the week before it).
STEPS: list[tuple[list[dict[str, Any]], datetime | None, datetime]] = [
    (  # week -3: i1 and i2 of c1 installed; c1 and c2 buy.
        [
            {"type": "install", "installation_id": "i1", "customer_id": "c1",
             "product_id": "p1", "version": "1", "occurred_at": _at(W3)},
            {"type": "install", "installation_id": "i2", "customer_id": "c1",
             "product_id": "p1", "version": "1", "occurred_at": _at(W3)},
            {"type": "purchase", "customer_id": "c1", "order_id": "o1", "product_id": "p1",
             "amount": "1", "currency": "EUR", "occurred_at": _at(W3)},
            {"type": "purchase", "customer_id": "c2", "order_id": "o1", "product_id": "p1",
             "amount": "1", "currency": "EUR", "occurred_at": _at(W3)},
        ],
        None,
        B1,
    ),
    (  # week -2: i1 beats, i2 stays silent and churns; i3 of c3 (p2); c1 buys again.
        [
            {"type": "heartbeat", "installation_id": "i1", "occurred_at": _at(B1 + D)},
            {"type": "install", "installation_id": "i3", "customer_id": "c3",
             "product_id": "p2", "version": "1", "occurred_at": _at(B1 + D)},
            {"type": "purchase", "customer_id": "c1", "order_id": "o2", "product_id": "p1",
             "amount": "1", "currency": "EUR", "occurred_at": _at(B1 + D)},
        ],
        B1 + D + timedelta(hours=1),
        B2,
    ),
    (  # week -1: i2 comes back; i3 is uninstalled.
        [
            {"type": "heartbeat", "installation_id": "i2", "occurred_at": _at(B2 + D)},
            {"type": "uninstall", "installation_id": "i3", "occurred_at": _at(B2 + D)},
        ],
        None,
        B3,
    ),
]  # fmt: skip


async def _step(conn: AsyncConnection, n: int) -> None:
    """Apply the events of STEPS[n], then its sweep (if any)."""
    events, clock, _ = STEPS[n]
    policy = Policy(at_risk_after=timedelta(hours=1), churn_after=D, hold_min=99)
    records = [
        Record(
            event=EVENT_ADAPTER.validate_python(e | {"event_id": f"e{n}.{k}"}),
            received_at=datetime.fromisoformat(e["occurred_at"]),
            source="test",
        )
        for k, e in enumerate(events)
    ]
    partitions = {"i1": 0, "i2": 0, "i3": 0}
    await apply_records(
        conn, records, loyal_min_orders=2, policy=policy, now=NOW, partitions=partitions
    )
    if clock is not None:
        await sweep(
            conn,
            clocks={0: (None, clock)},  # no earlier sweep: what is due is one jump
            now=NOW,
            policy=policy,
            loyal_min_orders=2,
            window=timedelta(0),
        )


@pytest.fixture
async def client(migrated: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    for n, (_, _, bucket) in enumerate(STEPS):
        async with migrated.begin() as conn:
            await _step(conn, n)
            await sample_cohorts(conn, bucket)
    transport = httpx.ASGITransport(app=projector_app(migrated))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def start(k: int) -> str:
    """The first day of the week ``k`` weeks before this one."""
    return (MONDAY - timedelta(weeks=k)).date().isoformat()


async def _cohorts(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/cohorts", params=params, headers=READ_AUTH)
    assert response.status_code == 200, response.text
    cohorts: list[dict[str, Any]] = response.json()["cohorts"]
    assert len(cohorts) == 52
    assert cohorts[-1]["start"] == MONDAY.date().isoformat()
    return [c for c in cohorts if c["size"]]


async def test_installation_and_customer_cohorts_by_week(client: httpx.AsyncClient) -> None:
    week = {"period": "week"}
    installs = await _cohorts(client, base="installations", **week)
    # i2 churned in week -2 and came back in week -1: out of use at the end of week -2
    # only. This week has no sample yet: it shows the last (the end of week -1).
    assert installs == [
        {"start": start(3), "size": 2, "in_use": [2, 1, 2, 2], "share": [1.0, 0.5, 1.0, 1.0]},
        {"start": start(2), "size": 1, "in_use": [1, 0, 0], "share": [1.0, 0.0, 0.0]},
    ]
    p2 = await _cohorts(client, base="installations", product_id="p2", **week)
    assert p2 == installs[1:]
    buyers = await _cohorts(client, base="customers", **week)
    assert buyers == [
        {
            "start": start(3),
            "size": 2,
            "bought_again": [0.0, 0.5, 0.5, 0.5],
            "active": [0.5, 0.5, 0.5, 0.5],  # c1 (in use), not c2 (never installed)
        }
    ]
    months = await client.get("/v1/cohorts?base=installations", headers=READ_AUTH)
    assert months.status_code == 200
    assert len(months.json()["cohorts"]) == 24
    assert sum(c["size"] for c in months.json()["cohorts"]) == 3
    for bad in [
        {},
        {"base": "nope"},
        {"base": "customers", "product_id": "p1"},
        {"base": "customers", "period": "day"},
        {"base": "customers", "since": "2026-01-01T00:00:00Z"},
    ]:
        response = await client.get("/v1/cohorts", params=bad, headers=READ_AUTH)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"


async def _daily(engine: AsyncEngine, rule: Callable[[datetime], Collection[Period]]) -> list[Any]:
    """STEPS sampled at every day's boundary from week -3 up to today, each sample
    writing the periods ``rule`` names; the cells written."""
    bucket, n = MONDAY - timedelta(weeks=3), 0
    while bucket <= NOW:
        async with engine.begin() as conn:
            while n < len(STEPS) and STEPS[n][2] <= bucket:
                await _step(conn, n)
                n += 1
            await sample_cohorts(conn, bucket, rule(bucket))
        bucket += D
    async with engine.connect() as conn:
        return sorted((await conn.execute(select(cohort_cells))).all())


async def test_a_replay_writes_the_cells_of_each_periods_last_sample_only(
    migrated: AsyncEngine, another_database: TestDatabase
) -> None:
    """A replay skips the cells a later sample of the same period overwrites: what is
    stored equals what writing every period at every sample stores."""
    skipped: list[datetime] = []

    def replay(bucket: datetime) -> Collection[Period]:
        periods = due(bucket, D, NOW)
        if len(periods) < len(PERIODS):
            skipped.append(bucket)
        return periods

    cells = await _daily(migrated, replay)
    engine = another_database.engine()
    try:
        await migrate(engine)
        every = await _daily(engine, lambda _: tuple(PERIODS))
    finally:
        await engine.dispose()
    assert cells == every
    assert {cell.base for cell in cells} == {"installations", "customers"}
    assert len(skipped) >= 14  # the past weeks' days but their last, at least

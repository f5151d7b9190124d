"""Churn signals on short thresholds: transitions, the backlog, mass silence, two instances."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.churn.sweep import release_hold
from basewatch_projector.settings import Settings
from basewatch_projector.storage.tables import signals
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.history import Out
from tests.support.kafka import produce, producing, read_records, send
from tests.support.keys import READ_AUTH
from tests.support.metrics import metric
from tests.support.polling import eventually
from tests.support.services import serve

SHORT = {"at_risk_after": "2s", "churn_after": "4s", "sweep_interval": "0.3s"}


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def live(kind: str, key: str, event: dict[str, Any]) -> Out:
    """A record as ingest would produce it right now (received_at = now)."""
    stamp = now_iso()
    value = {"occurred_at": stamp, **event, "received_at": stamp, "source": "test"}
    return Out(kind, key.encode(), orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def install(iid: str, customer: str, product: str = "p1") -> Out:
    return live(
        "telemetry",
        iid,
        {
            "event_id": f"in-{iid}",
            "type": "install",
            "installation_id": iid,
            "customer_id": customer,
            "product_id": product,
            "version": "1",
        },
    )


def heartbeat(iid: str) -> Out:
    return live(
        "telemetry",
        iid,
        {"event_id": f"hb-{uuid.uuid4().hex}", "type": "heartbeat", "installation_id": iid},
    )


async def stored(engine: AsyncEngine) -> list[tuple[str, str]]:
    """(kind, subject) of every stored signal, in feed order."""
    return [(kind, subject) for kind, subject, *_ in await timeline(engine)]


async def timeline(engine: AsyncEngine) -> list[tuple[str, str, str, str]]:
    """(kind, subject, when on the pipeline's clock, when noticed) of every stored signal:
    what a failed comparison shows."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(signals).order_by(signals.c.signal_id))
        return [
            (r.kind, r.installation_id or r.customer_id, str(r.occurred_at), str(r.detected_at))
            for r in rows
        ]


@contextlib.asynccontextmanager
async def heartbeating(bootstrap: str, topics: Topics, ids: Sequence[str]) -> AsyncIterator[None]:
    """Keep ``ids`` sending a heartbeat every 0.3 s while the block runs.

    One producer for all of them, started first: each heartbeat is stamped as it is sent
    (a producer started per beat would put its start, seconds on a loaded machine,
    between a stamp and the next, a real silence)."""

    stop = asyncio.Event()
    async with producing(bootstrap) as producer:

        async def beat() -> None:
            while not stop.is_set():
                await send(producer, topics, [heartbeat(i) for i in ids])
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.3)

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            stop.set()  # not cancelled: the last send completes
            await task


async def test_silence_then_resumption_then_uninstall_each_one_signal(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    projector_settings: Callable[..., Settings],
) -> None:
    settings = projector_settings(**SHORT, hold_min_transitions=1000)
    await produce(
        kafka_bootstrap,
        topics,
        [
            live(
                "customers",
                "c1",
                {
                    "event_id": "buy1",
                    "type": "purchase",
                    "customer_id": "c1",
                    "order_id": "o1",
                    "product_id": "p1",
                    "amount": "5",
                    "currency": "EUR",
                },
            ),
            install("keep", "c2"),
            install("stop", "c1"),
            install("back", "c1"),
            install("gone", "c3"),
            # Received with the install: judged on event time, an uninstall that arrived
            # at_risk_after later (a slow test process) would first make it at_risk.
            live(
                "telemetry",
                "gone",
                {"event_id": "un", "type": "uninstall", "installation_id": "gone"},
            ),
        ],
    )
    # Beating from right after its install: a silence while the app starts (seconds on a
    # loaded machine) would be a real one, and "keep" would turn at_risk and back.
    async with heartbeating(kafka_bootstrap, topics, ["keep"]), serve(create_app(settings)) as api:
        await eventually(
            lambda: stored(migrated), lambda s: ("customer.lapsed", "c1") in s, within=30
        )
        await produce(kafka_bootstrap, topics, [heartbeat("back")])
        await eventually(
            lambda: stored(migrated), lambda s: ("customer.reactivated", "c1") in s, within=30
        )
        await asyncio.sleep(1)  # a few more sweeps: nothing may be signalled twice
        seen = Counter(await stored(migrated))
        assert seen == Counter(
            {
                ("installation.uninstalled", "gone"): 1,
                ("installation.at_risk", "stop"): 1,
                ("installation.churned", "stop"): 1,
                ("installation.at_risk", "back"): 1,
                ("installation.churned", "back"): 1,
                ("customer.lapsed", "c1"): 1,
                ("installation.reactivated", "back"): 1,
                ("customer.reactivated", "c1"): 1,
            }
        ), await timeline(migrated)
        keep = (await api.get("/v1/installations/keep", headers=READ_AUTH)).json()
        assert keep["status"] == "active"
        feed = (await api.get("/v1/signals?kind=installation.churned", headers=READ_AUTH)).json()
        assert [s["installation_id"] for s in feed["items"]] == ["stop", "back"] or [
            s["installation_id"] for s in feed["items"]
        ] == ["back", "stop"]
        assert feed["next_cursor"]
        later = await api.get(
            f"/v1/signals?kind=installation.churned&after={feed['next_cursor']}", headers=READ_AUTH
        )
        assert later.json()["items"] == []
        # Published once each to the signals topic.
        await eventually(lambda: _published(migrated), lambda n: n == sum(seen.values()))
    await _on_the_topic_once(kafka_bootstrap, topics, sum(seen.values()))


@pytest.mark.slow
async def test_backlog_after_downtime_gives_no_false_signals(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    projector_settings: Callable[..., Settings],
) -> None:
    settings = projector_settings(**SHORT, hold_min_transitions=1000)
    ids = [f"i{n}" for n in range(5)]
    await produce(kafka_bootstrap, topics, [install(i, "c1") for i in ids])
    async with heartbeating(kafka_bootstrap, topics, ids):
        async with serve(create_app(settings)):
            await asyncio.sleep(1.5)
        # The projector is down while heartbeats keep flowing for longer than churn_after.
        await asyncio.sleep(6)
        # Small batches and a sweep after each: it sweeps many times inside the backlog.
        catching_up = projector_settings(
            **{**SHORT, "sweep_interval": "10ms"}, hold_min_transitions=1000, batch_max_records=3
        )
        async with serve(create_app(catching_up)) as api:
            await eventually(
                lambda: metric(api, "basewatch_projector_consumer_lag_records"),
                lambda n: n == 0,
                within=30,
            )
            await asyncio.sleep(1)  # sweeps on the caught-up clock
    assert await stored(migrated) == []


async def test_mass_silence_is_held_until_released(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    projector_settings: Callable[..., Settings],
) -> None:
    settings = projector_settings(**SHORT, hold_min_transitions=5)
    quiet = [f"q{n}" for n in range(15)]
    loud = [f"l{n}" for n in range(5)]
    await produce(kafka_bootstrap, topics, [install(i, "c1") for i in quiet + loud])
    async with heartbeating(kafka_bootstrap, topics, loud), serve(create_app(settings)) as api:

        def held() -> Awaitable[float]:
            return metric(api, "basewatch_projector_churn_held_transitions")

        await eventually(held, lambda n: n >= 5, within=20)
        assert await stored(migrated) == []  # held, not signalled
        async with migrated.begin() as conn:
            now = datetime.now(UTC)
            await release_hold(conn, now.replace(year=now.year + 1), now)
        await eventually(
            lambda: stored(migrated),
            lambda s: sum(k == "installation.churned" for k, _ in s) == 15,
            within=20,
        )
        assert {i for k, i in await stored(migrated)} == set(quiet)
        assert await held() == 0


async def test_two_instances_signal_each_transition_exactly_once(
    database: TestDatabase,
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    projector_settings: Callable[..., Settings],
) -> None:
    if database.kind == "sqlite":
        pytest.skip("two projector instances share one database only on PostgreSQL")
    settings = projector_settings(**SHORT, hold_min_transitions=1000)
    ids = [f"i{n}" for n in range(24)]
    await produce(kafka_bootstrap, topics, [install(i, f"c{n % 4}") for n, i in enumerate(ids)])
    async with serve(create_app(settings)), serve(create_app(settings)):
        await eventually(
            lambda: stored(migrated),
            lambda s: sum(k == "installation.churned" for k, _ in s) == 24,
            within=40,
        )
        await asyncio.sleep(1)
        seen = Counter(await stored(migrated))
        assert all(n == 1 for n in seen.values()), seen
        assert {i for k, i in seen if k == "installation.at_risk"} <= set(ids)
        await _dated_at_their_deadlines(migrated)
        await eventually(lambda: _published(migrated), lambda n: n == sum(seen.values()))
    await _on_the_topic_once(kafka_bootstrap, topics, sum(seen.values()))


async def _dated_at_their_deadlines(engine: AsyncEngine) -> None:
    """Whichever replica swept: an installation's signal at its deadline, a customer's
    lapse at the latest churn deadline of its installations (SHORT: 2 s and 4 s)."""
    async with engine.connect() as conn:
        rows = (await conn.execute(select(signals))).all()
    after = {
        "installation.at_risk": timedelta(seconds=2),
        "installation.churned": timedelta(seconds=4),
    }
    churned: dict[str, datetime] = {}
    for row in rows:
        if row.kind in after:
            assert row.occurred_at == row.silent_since + after[row.kind], row
        if row.kind == "installation.churned":
            churned[row.customer_id] = max(
                row.occurred_at, churned.get(row.customer_id, row.occurred_at)
            )
    lapses = {r.customer_id: r.occurred_at for r in rows if r.kind == "customer.lapsed"}
    assert lapses == {c: t for c, t in churned.items() if c in lapses}


async def _published(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(signals.c.signal_id).where(signals.c.published_at.is_not(None))
        )
        return len(rows.all())


async def _on_the_topic_once(bootstrap: str, topics: Topics, expected: int) -> None:
    """The signals topic holds ``expected`` signals, each once (read once nothing runs)."""
    on_topic = await read_records(bootstrap, [topics.signals])
    ids = [orjson.loads(r.value)["signal_id"] for r in on_topic]
    assert len(ids) == len(set(ids)) == expected

"""Fault scenarios: the end-to-end checker against real processes while something breaks.

Each scenario runs the checker (tests/e2e/checker) through ingest and a projector started
as processes, injects one kind of fault while the history flows, and asserts both that
the fault really happened and that the checker found nothing lost, doubled or different.
``BASEWATCH_SOAK=1`` (``make soak``) makes histories ten times bigger and faults more
numerous.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Coroutine
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from basewatch_projector.migrate import migrate
from tests.e2e.checker import Checker, Report
from tests.e2e.conftest import SOAK, scale
from tests.fixtures.databases import TestDatabase
from tests.polling import eventually
from tests.support.processes import ServiceProcess
from tests.support.proxy import CuttableProxy
from tests.support.stack import Stack, lag_records, projector_metric, wait_healthy
from tests.support.tables import snapshot

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600 if SOAK else 120)]

CUSTOMERS = scale(150)


async def _check_under(checker: Checker, fault: Coroutine[Any, Any, None]) -> Report:
    """Run the checker with ``fault`` beside it; print the report; the fault must end."""
    task = asyncio.create_task(fault)
    try:
        report = await checker.run()
    finally:
        if not task.done():
            await asyncio.wait({task}, timeout=30)
        if not task.done():
            task.cancel()
    print("\n" + report.render(show=20))
    await task  # a fault that failed fails the scenario
    return report


def _assert_clean(report: Report) -> None:
    v = report.verdict
    assert (v.lost, v.duplicated, v.mismatches[:5]) == (0, 0, [])
    assert not report.ledger.gave_up and not report.ledger.server_errors
    assert report.ledger.acked_count == report.history.events() - len(report.history.invalid_ids)


async def _phase(checker: Checker, name: str) -> None:
    """Wait until the checker is sending phase ``name``."""
    while checker.phase != name:
        assert checker.phase != "done", f"the checker finished before phase {name!r}"
        await asyncio.sleep(0.02)


async def test_projector_sigkilled_at_random_moments_mid_backlog(stack: Stack) -> None:
    ingest = await stack.ingest()
    # Small batches: many commits, so a kill lands between and inside them.
    projector = await stack.projector(BASEWATCH_BATCH_MAX_RECORDS="50")
    checker = Checker(stack.config(ingest, [projector], customers=CUSTOMERS, seed=11))
    rng = random.Random(11)
    wanted = scale(3)
    kills: list[int] = []  # the projector's lag, in records, when it was killed

    async def kill_mid_backlog() -> None:
        first_lag: int | None = None  # since the last (re)start
        while len(kills) < wanted and checker.phase not in ("check", "done"):
            lag = await lag_records(projector)
            first_lag = first_lag or lag
            # Kill only with a backlog left and after some of it was applied since the
            # start: in the middle of the work, not before it began.
            if not lag or first_lag is None or lag >= first_lag:
                await asyncio.sleep(0.02)
                continue
            await asyncio.sleep(rng.uniform(0, 0.1))
            await projector.kill()
            kills.append(lag)
            first_lag = None
            await projector.start()
            await wait_healthy(projector)

    report = await _check_under(checker, kill_mid_backlog())
    print(f"projector SIGKILLed {len(kills)} times, lag at each kill: {kills}")
    _assert_clean(report)
    assert len(kills) == wanted and all(lag > 0 for lag in kills)


async def test_database_outage_during_load_is_retried_without_a_rebalance(stack: Stack) -> None:
    url = make_url(stack.database.url)
    proxy = await CuttableProxy(url.host or "127.0.0.1", url.port or 5432).start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    ingest = await stack.ingest()
    projector = await stack.projector(DATABASE_URL=proxied)
    checker = Checker(stack.config(ingest, [projector], customers=CUSTOMERS, seed=12))
    phases = [p.name for p in checker.history.phases][1 : 5 if SOAK else 3]
    outages: list[str] = []

    async def cut_the_database() -> None:
        for name in phases:
            await _phase(checker, name)
            await proxy.cut()  # while the phase is being sent: the projector has work
            outages.append(name)
            await asyncio.sleep(3)
            await proxy.restore()

    try:
        report = await _check_under(checker, cut_the_database())
        retries = await projector_metric(projector, "basewatch_projector_batch_retries_total")
        rebalances = await projector_metric(projector, "basewatch_projector_rebalances_total")
        dead = await projector_metric(
            projector, "basewatch_projector_events_total", outcome="dead_lettered"
        )
    finally:
        await proxy.cut()
    print(f"database cut during {outages}; batch retries {retries}, rebalances {rebalances}")
    _assert_clean(report)
    assert outages == phases
    assert retries >= len(phases)  # batches failed and were retried, not dead-lettered
    assert (rebalances, dead) == (1, 0)  # the member kept its partitions throughout


async def test_broker_frozen_during_load_gives_503_and_loses_nothing(
    private_stack: Stack,
) -> None:
    stack = private_stack
    ingest = await stack.ingest(BASEWATCH_PRODUCE_TIMEOUT="1s", BASEWATCH_READINESS_TIMEOUT="0.3s")
    projector = await stack.projector()
    # Paced, so that requests are in flight whenever the broker stops.
    checker = Checker(
        stack.config(ingest, [projector], customers=CUSTOMERS, seed=13, rate=1500, batch_size=50)
    )
    broker = stack.broker
    assert broker is not None
    phases = [p.name for p in checker.history.phases][: 5 if SOAK else 2]
    during: list[int] = []  # 503s answered during each freeze

    async def freeze_the_broker() -> None:
        for name in phases:
            await _phase(checker, name)
            await asyncio.sleep(0.2)
            before = checker.ledger.refused["503"]
            broker.freeze()
            try:
                await asyncio.sleep(2.5)
            finally:
                broker.thaw()
            during.append(checker.ledger.refused["503"] - before)

    report = await _check_under(checker, freeze_the_broker())
    print(f"broker frozen during {phases}; event deliveries answered 503 per freeze: {during}")
    _assert_clean(report)
    assert len(during) == len(phases) and all(n > 0 for n in during)
    assert report.ledger.retried > 0


async def test_rebalance_mid_stream_a_second_projector_joins_then_leaves(stack: Stack) -> None:
    ingest = await stack.ingest()
    first = await stack.projector(BASEWATCH_BATCH_MAX_RECORDS="200")
    second = ServiceProcess("projector", stack.projector_env(BASEWATCH_BATCH_MAX_RECORDS="200"))
    checker = Checker(stack.config(ingest, [first, second], customers=CUSTOMERS, seed=14))
    names = [p.name for p in checker.history.phases]
    applied_by_second: list[float] = []

    async def join_then_leave() -> None:
        rounds = 2 if SOAK else 1
        for r in range(rounds):
            await _phase(checker, names[1 + 2 * r])
            stack.processes.append(second)
            await second.start()
            await wait_healthy(second)
            await _phase(checker, names[2 + 2 * r])
            await eventually(
                lambda: projector_metric(
                    second, "basewatch_projector_events_total", outcome="applied"
                ),
                lambda n: n > 0,
                within=30,
            )
            applied_by_second.append(
                await projector_metric(
                    second, "basewatch_projector_events_total", outcome="applied"
                )
            )
            assert await second.stop() == 0  # leaves the group mid-stream

    report = await _check_under(checker, join_then_leave())
    rebalances = await projector_metric(first, "basewatch_projector_rebalances_total")
    print(
        f"second projector applied {applied_by_second} records; first saw {rebalances} rebalances"
    )
    _assert_clean(report)
    assert applied_by_second and all(n > 0 for n in applied_by_second)
    assert rebalances >= 1 + 2 * len(applied_by_second)  # start, each join, each leave


async def test_replay_from_offset_zero_into_an_empty_database_gives_identical_tables(
    stack: Stack, second_postgres: TestDatabase
) -> None:
    ingest = await stack.ingest()
    projector = await stack.projector()
    checker = Checker(stack.config(ingest, [projector], customers=CUSTOMERS, seed=15))
    report = await checker.run()
    print("\n" + report.render())
    _assert_clean(report)
    first = stack.database.engine()
    replay = Stack(
        stack.bootstrap,
        stack.idempotence,
        stack.topics,
        second_postgres,
        stack.group + "-replay",
        stack.partitions,
    )
    engine = second_postgres.engine()
    try:
        await migrate(engine)
        original = await snapshot(first)
        await replay.projector()
        replayed = await eventually(
            lambda: snapshot(engine), lambda s: s == original, within=60, interval=0.5
        )
    finally:
        await replay.close()
        await engine.dispose()
        await first.dispose()
    rows = {name: len(table) for name, table in replayed.items()}
    print(f"replay from offset 0 into an empty database: identical tables {rows}")
    assert rows["installations"] == len(checker.model.installations)


async def test_ingest_sigterm_under_load_acknowledges_only_what_it_keeps(stack: Stack) -> None:
    ingest = await stack.ingest()
    projector = await stack.projector()
    checker = Checker(
        stack.config(ingest, [projector], customers=CUSTOMERS, seed=16, rate=1500, batch_size=50)
    )
    phases = [p.name for p in checker.history.phases][: 5 if SOAK else 2]
    stops: list[tuple[int, int, int]] = []  # exit code, acknowledged while stopping, refused

    async def terminate_ingest() -> None:
        for name in phases:
            await _phase(checker, name)
            await asyncio.sleep(0.3)
            acked = checker.ledger.acked_count
            refused = sum(checker.ledger.refused.values())
            code = await ingest.stop(grace=15)
            stops.append(
                (
                    code,
                    checker.ledger.acked_count - acked,
                    sum(checker.ledger.refused.values()) - refused,
                )
            )
            await asyncio.sleep(0.5)  # down for a while: clients see refused connections
            await ingest.start()
            await wait_healthy(ingest)

    report = await _check_under(checker, terminate_ingest())
    print(f"ingest SIGTERMed during {phases}: (exit code, acked while stopping, refused): {stops}")
    _assert_clean(report)
    assert [code for code, _, _ in stops] == [0] * len(phases)
    assert report.ledger.refused.keys() - {"202-rejected"}  # clients saw the stop

"""Fault scenarios: the end-to-end checker against real processes while something breaks.

Each scenario runs the checker (tests/e2e/checker) through ingest and a projector started
as processes, injects one kind of fault while the history flows, and asserts both that
the fault really happened and that the checker found nothing lost, doubled or different.
``BASEWATCH_SOAK=1`` (``make soak``) makes histories ten times bigger and faults more
numerous.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.storage.migrate import migrate
from basewatch_projector.storage.tables import signals
from tests.support.checker import Checker, Report
from tests.support.databases import TestDatabase
from tests.support.kafka import log_ends
from tests.support.polling import eventually
from tests.support.processes import ServiceProcess
from tests.support.profiles import SOAK, scale
from tests.support.proxy import proxy_database
from tests.support.signals import to_the_interval
from tests.support.stack import Stack, lag_records, projector_metric, wait_healthy
from tests.support.tables import snapshot

pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600 if SOAK else 120)]

CUSTOMERS = scale(100)
EACH_SECOND = {"BASEWATCH_HISTORY_INTERVAL": "1s"}
INTERVAL = timedelta(seconds=1)


class Faults:
    """Faults beside a checker run: started at a phase's gate, awaited at the end."""

    def __init__(self, checker: Checker) -> None:
        self.checker = checker
        self.tasks: list[asyncio.Task[None]] = []
        self._one_at_a_time = asyncio.Lock()  # a phase starts once the last fault ended
        self._answered = asyncio.Event()
        checker.sender.on_batch = self._answered.set

    def at(
        self,
        phase: str,
        fault: Callable[[], Coroutine[Any, Any, None]],
        first: Callable[[], None] | None = None,
    ) -> None:
        """Start ``fault`` as the checker begins sending ``phase`` (it runs beside it).

        ``first`` runs before the phase's first event is sent.
        """

        async def gated() -> None:
            try:
                await fault()
            finally:
                self._one_at_a_time.release()

        async def gate() -> None:
            await self._one_at_a_time.acquire()
            self._answered.clear()
            if first is not None:
                first()
            self.tasks.append(asyncio.create_task(gated()))

        self.checker.gates[phase] = gate

    def before(self, phase: str, step: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``step`` to its end before the checker sends ``phase``."""
        self.checker.gates[phase] = step

    async def run(self) -> Report:
        """Run the checker; print its report; every fault must end, and not by failing."""
        try:
            report = await self.checker.run()
        finally:
            if self.tasks:
                await asyncio.wait(self.tasks, timeout=30)
            for task in self.tasks:
                task.cancel()
        print("\n" + report.render(show=20))
        for task in self.tasks:
            await task  # a fault that failed fails the scenario
        return report

    async def first_answer(self) -> None:
        """Wait until a batch of the phase (started with ``at``) got its final answer."""
        await self._answered.wait()

    async def mid_phase(self) -> None:
        """Wait until a batch of the phase just started got its final answer."""
        self._answered.clear()
        await self._answered.wait()


def _assert_clean(report: Report) -> None:
    v = report.verdict
    assert (v.lost, v.duplicated, v.mismatches[:5]) == (0, 0, [])
    assert not report.ledger.gave_up and not report.ledger.server_errors
    assert report.ledger.acked_count == report.history.events() - len(report.history.invalid_ids)


def _phases(checker: Checker, first: int, ci: int) -> list[str]:
    """Phase names from index ``first``: ``ci`` of them, or all the rest in a soak."""
    names = [p.name for p in checker.history.phases][first:]
    return names if SOAK else names[:ci]


async def test_projector_sigkilled_mid_backlog_in_every_phase(stack: Stack) -> None:
    """The projector held still while a phase's first batch lands, then let apply part of it.

    Nothing here waits for luck: the backlog is made (the projector is stopped with
    SIGSTOP before the phase is sent and stays stopped until a batch is acknowledged), and
    the kill lands once the database shows some of that backlog applied and some not.
    """
    # Tiny batches: many commits, so the backlog takes many steps to apply.
    ingest, projector = await asyncio.gather(
        stack.ingest(), stack.projector(BASEWATCH_BATCH_MAX_RECORDS="5")
    )
    checker = Checker(stack.config(ingest, [projector], customers=CUSTOMERS, seed=11))
    faults = Faults(checker)
    phases = _phases(checker, 0, 2)
    kills: list[tuple[str, int, int]] = []  # the phase, records applied and left at the kill
    engine = stack.database.engine()

    async def kill_mid_backlog() -> None:
        phase = checker.phase
        await faults.first_answer()  # a batch is on the log; the held projector has not begun it
        before = await _applied(engine, stack.group)
        applied, slices = before, 0
        while applied == before:  # let it run in slices of 1 ms until a commit shows
            assert slices < 60_000, "the projector applied nothing in 60 s of slices"
            projector.release()
            await asyncio.sleep(0.001)
            projector.hold()
            applied, slices = await _applied(engine, stack.group), slices + 1
        ends = await log_ends(stack.bootstrap, [stack.topics.customers, stack.topics.telemetry])
        left = sum(ends.values()) - applied
        await projector.kill()
        kills.append((phase, applied - before, left))
        await projector.start()
        await wait_healthy(projector)

    for name in phases:
        faults.at(name, kill_mid_backlog, first=projector.hold)
    try:
        report = await faults.run()
    finally:
        await engine.dispose()
    print(f"projector SIGKILLed mid-backlog (phase, records applied, records left): {kills}")
    _assert_clean(report)
    assert [phase for phase, _, _ in kills] == phases  # killed once in every phase
    assert all(applied > 0 and left > 0 for _, applied, left in kills)  # in the middle


async def _applied(engine: AsyncEngine, group: str) -> int:
    """The records a consumer group has applied, by the offsets the database stores."""
    async with engine.connect() as conn:
        query = text(
            "SELECT coalesce(sum(next_offset), 0) FROM consumer_offsets WHERE group_id = :g"
        )
        return int(await conn.scalar(query, {"g": group}) or 0)


async def test_database_outage_during_load_is_retried_without_a_rebalance(stack: Stack) -> None:
    proxy, proxied = await proxy_database(stack.database.url)
    ingest, projector = await asyncio.gather(stack.ingest(), stack.projector(DATABASE_URL=proxied))
    checker = Checker(stack.config(ingest, [projector], customers=CUSTOMERS, seed=12))
    faults = Faults(checker)
    phases = _phases(checker, 1, 1)
    outages: list[str] = []

    async def retries_so_far() -> float:
        return await projector_metric(projector, "basewatch_projector_batch_retries_total")

    def outage(name: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def cut() -> None:  # while the phase is sent: the projector has work
            before = await retries_so_far()
            await proxy.cut()
            outages.append(name)
            # Down until a batch of this phase failed on it and waits for its retry.
            await eventually(retries_so_far, lambda n: n > before, within=60)
            await proxy.restore()

        return cut

    for name in phases:
        faults.at(name, outage(name))
    try:
        report = await faults.run()
        retries = await retries_so_far()
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
    ingest, projector = await asyncio.gather(
        stack.ingest(BASEWATCH_PRODUCE_TIMEOUT="1s", BASEWATCH_READINESS_TIMEOUT="0.3s"),
        stack.projector(),
    )
    # Paced, so that requests are in flight whenever the broker stops.
    checker = Checker(
        stack.config(ingest, [projector], customers=CUSTOMERS, seed=13, rate=800, batch_size=40)
    )
    faults = Faults(checker)
    broker = stack.broker
    assert broker is not None
    phases = _phases(checker, 0, 1)
    during: list[int] = []  # event deliveries answered 503 during each freeze

    async def freeze() -> None:
        assert broker is not None
        await faults.mid_phase()
        before = checker.ledger.refused["503"]
        broker.freeze()
        try:  # frozen until a delivery of this phase was answered 503
            await eventually(
                lambda: asyncio.sleep(0, checker.ledger.refused["503"]),
                lambda n: n > before,
                within=60,
            )
        finally:
            broker.thaw()
        during.append(checker.ledger.refused["503"] - before)

    for name in phases:
        faults.at(name, freeze)
    report = await faults.run()
    print(f"broker frozen during {phases}; event deliveries answered 503 per freeze: {during}")
    _assert_clean(report)
    assert len(during) == len(phases) and all(n > 0 for n in during)
    assert report.ledger.retried > 0


async def test_rebalance_mid_stream_a_second_projector_joins_then_leaves(stack: Stack) -> None:
    ingest, first = await asyncio.gather(
        stack.ingest(), stack.projector(BASEWATCH_BATCH_MAX_RECORDS="200")
    )
    second = ServiceProcess("projector", stack.projector_env(BASEWATCH_BATCH_MAX_RECORDS="200"))
    checker = Checker(
        stack.config(ingest, [first, second], customers=CUSTOMERS, seed=14, rate=2000)
    )
    faults = Faults(checker)
    names = [p.name for p in checker.history.phases]
    applied_by_second: list[float] = []

    async def applied() -> float:
        return await projector_metric(second, "basewatch_projector_events_total", outcome="applied")

    async def join() -> None:  # while the installed base flows in
        stack.processes.append(second)
        await second.start()
        await wait_healthy(second)

    async def owns_partitions() -> None:  # before the silence: both share it
        await eventually(lambda: lag_records(second), lambda n: n is not None, within=30)
        await faults.tasks[-1]

    async def leave() -> None:  # during the uninstalls
        applied_by_second.append(await applied())
        await faults.mid_phase()
        assert await second.stop() == 0  # leaves the group mid-stream

    faults.at(names[1], join)
    faults.before(names[2], owns_partitions)
    faults.at(names[3], leave)
    report = await faults.run()
    rebalances = await projector_metric(first, "basewatch_projector_rebalances_total")
    print(
        f"second projector applied {applied_by_second} records; first saw {rebalances} rebalances"
    )
    _assert_clean(report)
    assert applied_by_second and all(n > 0 for n in applied_by_second)
    assert rebalances >= 3  # its start, the join, the leave


async def test_replay_from_offset_zero_into_an_empty_database_gives_identical_tables(
    stack: Stack, second_postgres: TestDatabase, tmp_path: Path
) -> None:
    # History boundaries every second: a replay then applies the records of different
    # partitions in the order they were received, to the second (docs/signals.md).
    ingest, projector = await asyncio.gather(stack.ingest(), stack.projector(**EACH_SECOND))
    checker = Checker(stack.config(ingest, [projector], customers=CUSTOMERS, seed=15))
    report = await checker.run()
    print("\n" + report.render())
    _assert_clean(report)
    sqlite = TestDatabase(url=f"sqlite+aiosqlite:///{tmp_path / 'replay.db'}", schema=None)
    # A new group on each empty database: it starts at offset 0 of every partition.
    replays = [
        Stack(s.bootstrap, s.idempotence, s.topics, db, f"{s.group}-{db.kind}", s.partitions)
        for s, db in ((stack, second_postgres), (stack, sqlite))
    ]
    engines = [db.engine() for db in (stack.database, second_postgres, sqlite)]
    try:
        for engine in engines[1:]:
            await migrate(engine)
        original = await snapshot(engines[0])
        await asyncio.gather(*(r.projector(**EACH_SECOND) for r in replays))
        for engine in engines[1:]:
            await eventually(
                functools.partial(snapshot, engine),
                lambda s: s == original,
                within=60,
                interval=0.5,
            )
        # The same signals, each dated the same: occurred_at never depends on when or
        # in which batches the records were applied; a customer's, to the interval
        # (docs/signals.md).
        live = await _signals(engines[0])
        seen = [live]
        for engine in engines[1:]:
            with contextlib.suppress(AssertionError):  # the difference is asserted below
                await eventually(
                    functools.partial(_signals, engine),
                    lambda s: to_the_interval(s, INTERVAL) == to_the_interval(live, INTERVAL),
                )
            seen.append(await _signals(engine))
    finally:
        await asyncio.gather(*(r.close() for r in replays))
        for engine in engines:
            await engine.dispose()
    rows = {name: len(table) for name, table in original.items()}
    print(
        f"replay from offset 0 into empty PostgreSQL and SQLite databases: identical tables "
        f"{rows}; signals live / replayed: {[len(s) for s in seen]}"
    )
    assert rows["installations"] == len(checker.model.installations)
    assert live, "the history makes signals"
    expected = to_the_interval(live, INTERVAL)
    for replayed in seen[1:]:
        got = to_the_interval(replayed, INTERVAL)
        assert (expected - got, got - expected) == (Counter(), Counter())


async def _signals(engine: AsyncEngine) -> list[tuple[str, str, datetime]]:
    """(kind, subject, occurred_at) of every stored signal, sorted."""
    async with engine.connect() as conn:
        rows = await conn.execute(select(signals))
        return sorted((r.kind, r.installation_id or r.customer_id, r.occurred_at) for r in rows)


async def test_ingest_sigterm_under_load_acknowledges_only_what_it_keeps(stack: Stack) -> None:
    ingest, projector = await asyncio.gather(
        stack.ingest(BASEWATCH_PRODUCE_TIMEOUT="1s"), stack.projector()
    )
    checker = Checker(
        stack.config(ingest, [projector], customers=CUSTOMERS, seed=16, rate=800, batch_size=40)
    )
    faults = Faults(checker)
    phases = _phases(checker, 0, 1)
    stops: list[tuple[int, int, int]] = []  # exit code, acknowledged while stopping, refused

    async def terminate() -> None:
        await faults.mid_phase()
        acked, refused = checker.ledger.acked_count, sum(checker.ledger.refused.values())
        code = await ingest.stop(grace=15)
        answered = checker.ledger.acked_count - acked
        await asyncio.sleep(0.5)  # down for a while: clients see refused connections
        stops.append((code, answered, sum(checker.ledger.refused.values()) - refused))
        await ingest.start()
        await wait_healthy(ingest)

    for name in phases:
        faults.at(name, terminate)
    report = await faults.run()
    print(f"ingest SIGTERMed during {phases}; (exit code, acked while stopping, refused): {stops}")
    _assert_clean(report)
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully.
    assert len(stops) == len(phases)
    assert all(code in (0, -signal.SIGTERM) for code, _, _ in stops)
    # Each stop met requests in flight (answered 202 while draining, or refused), and
    # clients saw the service go away.
    assert all(acked + refused > 0 for _, acked, refused in stops)
    assert any(refused > 0 for _, _, refused in stops)

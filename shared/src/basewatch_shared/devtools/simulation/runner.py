"""Running a simulation: the model, the sender and the report wired together.

Imported only when ``basewatch simulate`` runs (see ``command``): it needs httpx, which
the services themselves do not.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import signal
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import httpx
import orjson

from basewatch_shared.devtools.simulation.clock import SimClock
from basewatch_shared.devtools.simulation.driver import Driver
from basewatch_shared.devtools.simulation.erasures import Eraser, ErasureStats, choose
from basewatch_shared.devtools.simulation.expected import Ledger, Thresholds
from basewatch_shared.devtools.simulation.population import Customer, Mix, draw_population
from basewatch_shared.devtools.simulation.report import (
    Outcome,
    document,
    progress_line,
    summary_text,
)
from basewatch_shared.devtools.simulation.sender import (
    Sender,
    SimulationError,
    Stats,
    check_reachable,
)
from basewatch_shared.devtools.simulation.traffic import Event, Traffic

ARRIVAL_TICKS = 12  # newcomers arrive over this many heartbeats (or a third of a short run)


@dataclass
class _Signals:
    """First Ctrl-C or SIGTERM: stop cleanly. Second Ctrl-C: abandon what is under way."""

    stopping: asyncio.Event
    abort: asyncio.Event

    @classmethod
    def handled(cls) -> _Signals:
        """Ctrl-C and SIGTERM, handled in the running loop from now on."""
        signals = cls(asyncio.Event(), asyncio.Event())
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, signals.interrupt)
        loop.add_signal_handler(signal.SIGTERM, signals.stopping.set)
        return signals

    def interrupt(self) -> None:
        if self.stopping.is_set():
            self.abort.set()
        self.stopping.set()


def run(args: argparse.Namespace) -> int:
    """Check the options and ingest, simulate, print the summary; the exit code."""
    if args.churn_after <= args.at_risk_after:
        print(
            "basewatch simulate: --churn-after must be longer than --at-risk-after", file=sys.stderr
        )
        return 2
    args.url = args.url.rstrip("/")
    try:
        SimClock(datetime.now(UTC), args.speed, args.duration)  # refuse bad options first
        check_reachable(args.url, args.wait.total_seconds() if args.wait else 0.0)
    except (SimulationError, ValueError) as exc:
        print(f"basewatch simulate: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while waiting for ingest: nothing was sent
        return 130
    clock = SimClock(datetime.now(UTC), args.speed, args.duration)
    thresholds = Thresholds(args.at_risk_after, args.churn_after)
    if warning := clock.warning(args.heartbeat_every, thresholds.at_risk_after):
        print(warning, file=sys.stderr)
    try:
        doc = asyncio.run(_simulate(args, clock, thresholds))
    except SimulationError as exc:
        print(f"basewatch simulate: {exc}", file=sys.stderr)
        return 2
    print(summary_text(doc), flush=True)
    if args.summary_json:
        Path(args.summary_json).write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
    events = doc["events"]
    return 0 if events["rejected"] == 0 and events["unconfirmed"] == 0 else 1


async def _simulate(
    args: argparse.Namespace, clock: SimClock, thresholds: Thresholds
) -> dict[str, Any]:
    prefix = f"sim-{secrets.token_hex(3)}-"
    rng = random.Random(args.seed)
    people = draw_population(rng, args.population, prefix, Mix())
    traffic = _traffic(args, clock, rng, people, prefix)
    ledger, stats, erasures = Ledger(), Stats(), ErasureStats(share=args.erase_share)
    signals = _Signals.handled()
    headers = {"Authorization": f"Bearer {args.key}"}
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(
        base_url=args.url, headers=headers, timeout=10, limits=limits
    ) as client:
        eraser = _eraser(args, clock, client, people, erasures, ledger)

        def accepted(event: Event) -> None:
            ledger.record(event)
            eraser.saw(event)

        driver = Driver(
            traffic,
            clock,
            Sender(client, stats, accepted, signals.stopping),
            stats,
            rate=args.rate,
            batch_max=args.batch,
            concurrency=args.concurrency,
        )
        reason = await _drive(driver, eraser, args, signals)
    outcome = _outcome(reason, driver, args, prefix)
    return document(outcome, stats, traffic, ledger, thresholds, erasures)


def _eraser(
    args: argparse.Namespace,
    clock: SimClock,
    client: httpx.AsyncClient,
    people: list[Customer],
    stats: ErasureStats,
    ledger: Ledger,
) -> Eraser:
    """Erasures of ``--erase-share`` of the customers, one to six heartbeats after their
    identify, and before the last fifth of a run with a duration."""
    tick_s = args.heartbeat_every.total_seconds() / clock.speed
    return Eraser(
        client,
        args.erase_key,
        choose([c.customer_id for c in people], args.erase_share, args.seed),
        stats,
        ledger.erased.add,
        delay_s=(tick_s, 6 * tick_s),
        deadline_s=0.8 * clock.duration.total_seconds() if clock.duration else None,
        seed=args.seed,
    )


def _outcome(reason: str, driver: Driver, args: argparse.Namespace, prefix: str) -> Outcome:
    """How the run ended; silence is judged by the wall clock now."""
    clock = driver.clock
    return Outcome(
        reason=reason,
        elapsed=driver.elapsed,
        run=prefix,
        seed=args.seed,
        speed=clock.speed,
        sim_start=clock.start,
        sim_end=clock.start + timedelta(seconds=clock.offset(driver.elapsed)),
        judged_at=datetime.now(UTC),
        unsent=driver.unsent,
        population=args.population,
    )


def _traffic(
    args: argparse.Namespace,
    clock: SimClock,
    rng: random.Random,
    people: list[Customer],
    prefix: str,
) -> Traffic:
    """The population's events; newcomers arrive over a few heartbeats (a third of a short run)."""
    tick: timedelta = args.heartbeat_every
    window = tick * ARRIVAL_TICKS
    if clock.duration is not None:
        window = min(window, clock.duration * clock.speed / 3)
    return Traffic(
        people,
        rng,
        start=clock.start,
        tick=tick,
        arrival_window=window,
        prefix=prefix,
    )


async def _drive(
    driver: Driver, eraser: Eraser, args: argparse.Namespace, signals: _Signals
) -> str:
    """Run the driver with the erasures and the progress line; why it ended."""
    progress = asyncio.create_task(_progress(driver, eraser, args, sys.stderr))
    erasing = asyncio.create_task(eraser.run(signals.stopping))
    try:
        return await driver.run(signals.stopping, signals.abort)
    finally:
        signals.stopping.set()  # also after an error: the erasure under way ends the erasures
        progress.cancel()
        if signals.abort.is_set():
            erasing.cancel()
        await asyncio.gather(progress, erasing, return_exceptions=True)
        await driver.cancel()


async def _progress(driver: Driver, eraser: Eraser, args: argparse.Namespace, out: TextIO) -> None:
    """A \\r-updated line on a terminal, else a line every ``--progress-every`` seconds."""
    tty = out.isatty()
    every = 0.5 if tty else args.progress_every
    last_sent, last_at = 0, time.monotonic()
    try:
        while True:
            await asyncio.sleep(every)
            now = time.monotonic()
            rate = (driver.stats.sent - last_sent) / max(now - last_at, 1e-9)
            last_sent, last_at = driver.stats.sent, now
            sim_now = driver.clock.start + timedelta(seconds=driver.clock.offset(driver.elapsed))
            line = progress_line(
                driver.elapsed,
                sim_now,
                driver.stats,
                driver.traffic,
                args.population,
                rate,
                eraser.stats,
            )
            if driver.behind > 1:
                line += f"  (behind {driver.behind:,.0f} s)"
            out.write(f"\r{line}\x1b[K" if tty else f"{line}\n")
            out.flush()
    finally:
        if tty:
            out.write("\n")
            out.flush()

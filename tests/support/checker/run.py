"""The check: send the history phase by phase, wait for the projector, compare with the model."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests.support.checker.client import Ledger, Sender
from tests.support.checker.compare import Verdict, compare
from tests.support.checker.history import History, generate
from tests.support.checker.model import Model
from tests.support.checker.observe import Projectors


@dataclass
class Config:
    """Where the stack is, how big the history is, and how patient to be."""

    ingest: str
    projectors: list[str]
    ingest_key: str
    read_key: str
    customers: int = 300
    seed: int = 1
    tag: str = ""
    at_risk_after: timedelta = timedelta(days=3)
    churn_after: timedelta = timedelta(days=14)
    loyal_min_orders: int = 2
    partitions: int = 6
    batch_size: int = 200
    concurrency: int = 4
    rate: float | None = None
    retry_for: float = 120.0
    lag_timeout: float = 180.0
    lag_settle: float = 1.0  # after the last acknowledgement, before lag 0 counts
    signal_wait: float = 45.0  # longer than the projector's sweep interval
    quiet: float = 5.0
    settle: float = 20.0


@dataclass
class Report:
    """What the run did and found; ``ok`` when nothing was lost, doubled or different."""

    tag: str
    history: History
    ledger: Ledger
    verdict: Verdict
    phases: list[tuple[str, float, float]] = field(default_factory=list)
    alone: bool = True

    @property
    def ok(self) -> bool:
        v, led = self.verdict, self.ledger
        return not (v.lost or v.duplicated or v.mismatches or led.gave_up or led.server_errors)

    def render(self, show: int = 10) -> str:
        """The printed report."""
        led, v, h = self.ledger, self.verdict, self.history
        valid = h.events() - len(h.invalid_ids)
        sends = sum(len(s) for p in h.phases for s in p.steps)
        refused = ", ".join(f"{k}: {n}" for k, n in sorted(led.refused.items())) or "none"
        late = sum(1 for a in led.answers.values() if a[-1] == "202" and len(set(a)) > 1)
        lines = [
            f"basewatch end-to-end check, run {self.tag}",
            f"  events sent          {h.events()} distinct ({valid} valid, "
            f"{len(h.invalid_ids)} invalid), {sends - h.events()} resent as duplicates",
            f"  deliveries           {led.deliveries} event deliveries in {led.requests} requests",
            f"  acknowledged (202)   {led.acked_count} of {valid} valid events",
            f"  refused              {refused} (event deliveries, by status)",
            f"  invalid refused      {len(led.rejected & h.invalid_ids)} of {len(h.invalid_ids)}",
            f"  retried              {led.retried} event deliveries (same event_id); "
            f"{late} events acknowledged only after a refused or unanswered try",
            f"  gave up              {len(led.gave_up)}",
            f"  server errors (5xx)  {led.server_errors}",
        ]
        for name, sent, caught_up in self.phases:
            lines.append(
                f"  phase {name:<37} sent in {sent:5.1f} s, applied {caught_up:5.1f} s later"
            )
        checked = ", ".join(f"{k} {n}" for k, n in v.checked.items())
        if not self.alone:
            checked += " (summary skipped: the database holds other runs too)"
        lines += [
            f"  checked              {checked}",
            f"  lost                 {v.lost}",
            f"  duplicated effects   {v.duplicated}",
            f"  state mismatches     {len(v.mismatches)}",
        ]
        lines += [f"    {m}" for m in v.mismatches[:show]]
        lines.append("  result               " + ("OK" if self.ok else "FAILED"))
        return "\n".join(lines)


class Checker:
    """One run against a running stack; faults may be injected while it runs."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.tag = config.tag or f"e2e{uuid.uuid4().hex[:6]}"
        self.history = generate(
            config.customers,
            seed=config.seed,
            tag=self.tag,
            at_risk_after=config.at_risk_after,
            churn_after=config.churn_after,
        )
        self.sender = Sender(
            config.ingest,
            config.ingest_key,
            batch_size=config.batch_size,
            concurrency=config.concurrency,
            rate=config.rate,
            retry_for=config.retry_for,
        )
        self.projectors = Projectors(config.projectors, config.read_key, config.partitions)
        self.model = Model(config.at_risk_after, config.churn_after, config.loyal_min_orders)
        self.phase = ""
        # Called before a phase is sent (by name): where a scenario puts its fault.
        self.gates: dict[str, Callable[[], Awaitable[None]]] = {}

    @property
    def ledger(self) -> Ledger:
        return self.sender.ledger

    async def run(self) -> Report:
        """Send every phase, wait for the projector after each, then compare."""
        report = Report(self.tag, self.history, self.ledger, Verdict())
        for phase in self.history.phases:
            if gate := self.gates.get(phase.name):
                await gate()
            self.phase = phase.name
            start, received = time.monotonic(), datetime.now(UTC)
            for step in phase.steps:
                await self.sender.send(step)
            sent = time.monotonic() - start
            acked = self.ledger.acknowledged
            phase_acked = [e for s in phase.steps for e in s if e["event_id"] in acked]
            self.model.apply(phase_acked, received)
            waited = await self.projectors.wait_caught_up(
                self.config.lag_timeout, self.config.lag_settle
            )
            self.model.sweep(datetime.now(UTC))
            await self._signals_settle(self.config.signal_wait)
            report.phases.append((phase.name, sent, waited))
            self.phase = f"after {phase.name}"
        self.phase = "check"
        await asyncio.sleep(self.config.quiet)  # a late, spurious signal would show now
        deadline = time.monotonic() + self.config.settle
        while True:
            seen, report.alone = await self.projectors.observe(self.tag)
            report.verdict = compare(self.model, seen, alone=report.alone)
            if not report.verdict.mismatches or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        self.phase = "done"
        return report

    async def _signals_settle(self, within: float) -> None:
        """Wait until the feed has at least the signals the model expects so far."""
        want = sum(self.model.signals.values())
        deadline = time.monotonic() + within
        while await self.projectors.signal_count(self.tag) < want:
            if time.monotonic() > deadline:
                return  # the comparison will say what is missing
            await asyncio.sleep(0.3)

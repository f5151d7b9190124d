"""The events a population sends over simulated time.

A discrete-event schedule: a heap of actions (arrive, purchase, install, heartbeat,
resume, uninstall), each due at a simulated time, each producing at most one event
and scheduling what follows. Times are seconds since the clock's ``start``; the unit
of the model's own durations is the heartbeat interval (a *tick*), so the same model
works for a 5-second demo cadence and for hourly heartbeats replayed at speed.

Actions run in heap order (time, then order of scheduling), whatever the chunks
``due`` is called with, so a seed gives the same events in the same order.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any, Final, Literal

from basewatch_shared.devtools.simulation.catalog import PRODUCTS, Product, amount_text, price
from basewatch_shared.devtools.simulation.population import Customer, Mix

Event = dict[str, Any]
State = Literal["running", "silent", "uninstalled"]
STATES: Final[tuple[State, ...]] = ("running", "silent", "uninstalled")


@dataclass(frozen=True)
class Life:
    """What an installation does at each heartbeat, and how long silences last (in ticks)."""

    goes_silent: float = 0.02
    uninstalls: float = 0.003
    reinstalls: float = 0.5  # of uninstalls: the owner installs again later (comes back)
    upgrades: float = 0.02
    # (share, shortest, longest) in ticks; longest None: silent for good. Against the
    # demo's thresholds (4 and 9 ticks) these are: below at-risk, at-risk, churned and back.
    silences: tuple[tuple[float, float, float | None], ...] = (
        (0.3, 2.0, 3.5),
        (0.4, 5.0, 8.0),
        (0.2, 10.0, 30.0),
        (0.1, 0.0, None),
    )


@dataclass
class _Installation:
    installation_id: str
    customer: Customer
    product: Product
    platform: str
    version: int  # index into product.versions
    state: State = "running"
    sessions: int = 0
    minutes: int = 0


@dataclass
class _Account:
    installs: bool  # buyers who never install buy without installing
    owned: set[str] = field(default_factory=set)


class Traffic:
    """The event stream of one population, produced lazily as simulated time passes."""

    def __init__(
        self,
        customers: list[Customer],
        rng: random.Random,
        *,
        start: datetime,
        tick: timedelta,
        arrival_window: timedelta,
        prefix: str,
        mix: Mix | None = None,
        life: Life | None = None,
    ) -> None:
        self._rng = rng
        self._start = start
        self._tick = tick.total_seconds()
        self._prefix = prefix
        self._mix = mix or Mix()
        self._life = life or Life()
        self._heap: list[tuple[float, int, Callable[[float], Event | None]]] = []
        self._order = count()
        self._ids = {"e": count(), "o": count(), "i": count()}
        self._accounts: dict[str, _Account] = {}
        self.states: Counter[State] = Counter()
        self.arrived = 0
        window = arrival_window.total_seconds()
        for customer in customers:
            self._at(customer.arrival * window, self._arrive, customer)

    def next_at(self) -> float | None:
        """Simulated seconds since start of the next action, None when nothing is left."""
        return self._heap[0][0] if self._heap else None

    def due(self, until: float, limit: int | None = None) -> list[tuple[float, Event]]:
        """The events of every action due at or before ``until`` (at most ``limit``)."""
        events: list[tuple[float, Event]] = []
        heap = self._heap
        while heap and heap[0][0] <= until and (limit is None or len(events) < limit):
            at, _, action = heapq.heappop(heap)
            event = action(at)
            if event is not None:
                events.append((at, event))
        return events

    # --- scheduling ---------------------------------------------------------

    def _at(self, at: float, action: Callable[..., Event | None], *args: Any) -> None:
        heapq.heappush(self._heap, (at, next(self._order), lambda t: action(t, *args)))

    def _ticks(self, low: float, high: float) -> float:
        return self._rng.uniform(low, high) * self._tick

    def _event(self, at: float, kind: str, **fields: Any) -> Event:
        when = self._start + timedelta(seconds=at)
        return {
            "event_id": f"{self._prefix}e{next(self._ids['e'])}",
            "type": kind,
            "occurred_at": when.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            **fields,
        }

    # --- customers ----------------------------------------------------------

    def _arrive(self, at: float, customer: Customer) -> Event:
        self.arrived += 1
        rng, mix = self._rng, self._mix
        account = _Account(installs=customer.kind != "buyer" or rng.random() >= mix.never_installs)
        self._accounts[customer.customer_id] = account
        if customer.kind == "buyer":
            again = rng.random() < mix.buys_again
            self._at(at + self._ticks(0, 0.5), self._purchase, customer, None, again)
        elif customer.kind == "prospect":
            trial = self._product()
            self._at(at + self._ticks(0, 1), self._install, customer, trial)
            if rng.random() < mix.converts:
                self._at(at + self._ticks(4, 20), self._purchase, customer, trial, False)
        return self._event(at, "identify", customer_id=customer.customer_id, traits=customer.traits)

    def _product(self) -> Product:
        return self._rng.choices(PRODUCTS, [p.weight for p in PRODUCTS])[0]

    def _purchase(
        self, at: float, customer: Customer, product: Product | None, again: bool
    ) -> Event:
        rng = self._rng
        product = product or self._product()
        seats = rng.randint(1, product.max_seats)
        # A few orders are free (a promotion): amount 0 is valid, and revenue stays exact.
        amount = Decimal(0) if rng.random() < 0.02 else price(product, customer.country.currency)
        account = self._accounts[customer.customer_id]
        if account.installs and product.product_id not in account.owned:
            account.owned.add(product.product_id)
            copies = seats if product.max_seats > 1 else 1 + (rng.random() < 0.2)
            for _ in range(copies):
                self._at(at + self._ticks(0.1, 2), self._install, customer, product)
        if again:
            self._at(at + self._ticks(3, 25), self._purchase, customer, None, False)
        return self._event(
            at,
            "purchase",
            customer_id=customer.customer_id,
            order_id=f"{self._prefix}o{next(self._ids['o'])}",
            product_id=product.product_id,
            amount=amount_text(amount * seats),
            currency=customer.country.currency,
            quantity=seats,
        )

    # --- installations ------------------------------------------------------

    def _install(self, at: float, customer: Customer, product: Product) -> Event:
        rng = self._rng
        newest = len(product.versions) - 1
        inst = _Installation(
            installation_id=f"{self._prefix}i{next(self._ids['i'])}",
            customer=customer,
            product=product,
            platform=rng.choice(product.platforms),
            version=newest if rng.random() < 0.7 else rng.randint(0, newest),
        )
        self.states["running"] += 1
        self._accounts[customer.customer_id].owned.add(product.product_id)
        self._at(at + self._ticks(0, 1), self._beat, inst)
        return self._event(
            at,
            "install",
            customer_id=customer.customer_id,
            installation_id=inst.installation_id,
            product_id=product.product_id,
            version=product.versions[inst.version],
            platform=inst.platform,
        )

    def _beat(self, at: float, inst: _Installation) -> Event:
        rng, life = self._rng, self._life
        if inst.version < len(inst.product.versions) - 1 and rng.random() < life.upgrades:
            inst.version += 1
        inst.sessions += rng.randint(0, 3)
        inst.minutes += rng.randint(0, 45)
        event = self._event(
            at,
            "heartbeat",
            installation_id=inst.installation_id,
            product_id=inst.product.product_id,
            version=inst.product.versions[inst.version],
            platform=inst.platform,
            usage={"sessions": inst.sessions, "active_minutes": inst.minutes},
        )
        draw = rng.random()
        if draw < life.uninstalls:
            self._at(at + self._ticks(0.2, 0.8), self._uninstall, inst)
        elif draw < life.uninstalls + life.goes_silent:
            self._go_silent(at, inst)
        else:
            self._at(at + self._ticks(0.95, 1.05), self._beat, inst)
        return event

    def _go_silent(self, at: float, inst: _Installation) -> None:
        self._move(inst, "silent")
        shares = [share for share, _, _ in self._life.silences]
        _, low, high = self._rng.choices(self._life.silences, shares)[0]
        if high is not None:
            self._at(at + self._ticks(low, high), self._resume, inst)

    def _resume(self, at: float, inst: _Installation) -> Event:
        self._move(inst, "running")
        return self._beat(at, inst)

    def _uninstall(self, at: float, inst: _Installation) -> Event:
        self._move(inst, "uninstalled")
        if self._rng.random() < self._life.reinstalls:
            self._at(at + self._ticks(3, 30), self._install, inst.customer, inst.product)
        return self._event(at, "uninstall", installation_id=inst.installation_id)

    def _move(self, inst: _Installation, state: State) -> None:
        self.states[inst.state] -= 1
        self.states[state] += 1
        inst.state = state

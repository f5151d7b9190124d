"""What the projector should show for the events ingest accepted.

An independent model of the rules of docs/tables.md, fed only with accepted
events, so rejected or unanswered requests cannot make it disagree. Segments, orders,
units and revenue are exact. Installation statuses depend on *when* silence is
judged: ``summary(at=...)`` judges it at one instant with the given thresholds and
says between which times those statuses hold (``stable``); the projector shows them
after its first sweep inside that window.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from basewatch_shared.money import from_micros, to_micros

SEGMENTS: Final = ("loyal", "one_time", "prospect", "suspect")
CUSTOMER_STATUSES: Final = ("active", "lapsed", "never_installed", "none")
INSTALLATION_STATUSES: Final = ("active", "at_risk", "churned", "uninstalled")
IN_USE: Final = frozenset({"active", "at_risk"})


@dataclass(frozen=True)
class Thresholds:
    """The projector's silence thresholds (its defaults unless told otherwise)."""

    at_risk_after: timedelta = timedelta(days=3)
    churn_after: timedelta = timedelta(days=14)
    loyal_min_orders: int = 2


@dataclass
class _Installation:
    customer_id: str | None = None
    product_id: str | None = None
    activity: datetime | None = None  # the later of installed_at and last_heartbeat_at
    uninstalled_at: datetime | None = None

    def status(self, at: datetime, thresholds: Thresholds) -> str:
        if self.uninstalled_at is not None and (
            self.activity is None or self.uninstalled_at >= self.activity
        ):
            return "uninstalled"
        silent = at - self.activity if self.activity else timedelta(0)
        if silent >= thresholds.churn_after:
            return "churned"
        return "at_risk" if silent >= thresholds.at_risk_after else "active"


@dataclass
class _Product:
    units: int = 0
    orders: set[tuple[str, str]] = field(default_factory=set)
    revenue: Counter[str] = field(default_factory=Counter)  # micro-units per currency


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _later(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b > a else a


class Ledger:
    """The accepted events, folded into what the read API should answer."""

    def __init__(self) -> None:
        self.customers: dict[str, set[str]] = {}  # customer_id -> order_ids
        self.installations: dict[str, _Installation] = {}
        self.products: dict[str, _Product] = defaultdict(_Product)
        self.events = 0

    def record(self, event: dict[str, Any]) -> None:
        """Fold in one event that ingest accepted."""
        self.events += 1
        kind = event["type"]
        customer_id: str | None = event.get("customer_id")
        if customer_id is not None:
            orders = self.customers.setdefault(customer_id, set())
        if kind == "purchase":
            assert customer_id is not None  # the contract requires it on purchases
            orders.add(event["order_id"])
            product = self.products[event["product_id"]]
            order = (customer_id, str(event["order_id"]))
            if order not in product.orders:
                product.orders.add(order)
                product.units += event.get("quantity", 1)
                product.revenue[event["currency"]] += to_micros(Decimal(event["amount"]))
        elif kind in ("install", "heartbeat", "uninstall"):
            self._telemetry(kind, event)

    def _telemetry(self, kind: str, event: dict[str, Any]) -> None:
        inst = self.installations.setdefault(event["installation_id"], _Installation())
        at = _time(event["occurred_at"])
        if kind == "uninstall":
            inst.uninstalled_at = _later(inst.uninstalled_at, at)
            return
        inst.activity = _later(inst.activity, at)
        if kind == "install":
            inst.customer_id = event["customer_id"]
        inst.product_id = event.get("product_id") or inst.product_id

    def summary(self, at: datetime, thresholds: Thresholds) -> dict[str, Any]:
        """``/v1/summary`` as it should read when silence is judged at ``at``."""
        statuses = {i: inst.status(at, thresholds) for i, inst in self.installations.items()}
        owned: dict[str, list[str]] = defaultdict(list)
        for installation_id, inst in self.installations.items():
            if inst.customer_id is not None:
                owned[inst.customer_id].append(statuses[installation_id])
        kinds: Counter[tuple[str, str]] = Counter(
            _kind(len(orders), owned.get(customer_id, []), thresholds.loyal_min_orders)
            for customer_id, orders in self.customers.items()
        )
        paying = ("loyal", "one_time")

        def customers(segments: tuple[str, ...], status: tuple[str, ...]) -> int:
            return sum(kinds[(s, t)] for s in segments for t in status)

        by_status = Counter(statuses.values())
        return {
            "customer_base": {
                "total": customers(paying, CUSTOMER_STATUSES),
                "by_segment": {s: customers((s,), CUSTOMER_STATUSES) for s in SEGMENTS},
                "by_status": {t: customers(SEGMENTS, (t,)) for t in CUSTOMER_STATUSES},
            },
            "installed_base": {
                "total": sum(by_status[s] for s in IN_USE),
                "by_status": {s: by_status[s] for s in INSTALLATION_STATUSES},
                "by_product": self._by_product(statuses),
            },
            "overlap": {
                "paying_and_active": customers(paying, ("active",)),
                "paying_and_lapsed": customers(paying, ("lapsed",)),
                "paying_never_installed": customers(paying, ("never_installed",)),
                "active_not_paying_customers": customers(("prospect",), ("active",)),
                "active_not_paying_installations": sum(
                    1
                    for i, inst in self.installations.items()
                    if statuses[i] in IN_USE and not self.customers.get(inst.customer_id or "")
                ),
            },
        }

    def _by_product(self, statuses: dict[str, str]) -> list[dict[str, Any]]:
        counts: dict[str | None, Counter[str]] = defaultdict(Counter)
        for installation_id, inst in self.installations.items():
            counts[inst.product_id][statuses[installation_id]] += 1
        return [
            {
                "product_id": product_id,
                "installations": sum(counts[product_id].values()),
                **{s: counts[product_id][s] for s in INSTALLATION_STATUSES},
            }
            for product_id in sorted(counts, key=lambda p: (p is None, p or ""))
        ]

    def sales(self) -> dict[str, dict[str, Any]]:
        """Per product: units sold, orders and revenue per currency (exact decimal strings)."""
        return {
            product_id: {
                "units_sold": product.units,
                "orders": len(product.orders),
                "revenue": {c: str(from_micros(m)) for c, m in sorted(product.revenue.items())},
            }
            for product_id, product in sorted(self.products.items())
        }

    def stable(
        self, at: datetime, thresholds: Thresholds
    ) -> tuple[datetime | None, datetime | None]:
        """The last threshold crossing at or before ``at`` and the next one after it.

        The statuses of ``summary(at)`` are what a sweep anywhere between the two finds.
        """
        last: datetime | None = None
        after: datetime | None = None
        for inst in self.installations.values():
            if inst.activity is None or inst.status(at, thresholds) == "uninstalled":
                continue
            for limit in (thresholds.at_risk_after, thresholds.churn_after):
                crossing = inst.activity + limit
                if crossing <= at:
                    last = crossing if last is None else max(last, crossing)
                else:
                    after = crossing if after is None else min(after, crossing)
        return last, after


def _kind(orders: int, statuses: list[str], loyal_min_orders: int) -> tuple[str, str]:
    """(segment, status) of a customer, by the contract's rules."""
    if orders >= loyal_min_orders:
        segment = "loyal"
    elif orders:
        segment = "one_time"
    else:
        segment = "prospect" if statuses else "suspect"
    if any(s in IN_USE for s in statuses):
        status = "active"
    elif not orders:
        status = "none"
    else:
        status = "lapsed" if statuses else "never_installed"
    return segment, status

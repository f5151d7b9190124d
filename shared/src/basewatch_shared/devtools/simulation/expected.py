"""What the projector should show for the events ingest accepted.

An independent model of the rules of docs/tables.md, fed only with accepted
events, so rejected or unanswered requests cannot make it disagree. Segments, orders,
units and revenue are exact. Installation statuses depend on *when* silence is
judged: ``summary(at=...)`` judges it at one instant with the given thresholds and
says between which times those statuses hold (``stable``); the projector shows them
after its first sweep inside that window. Erased customers count like the others;
``erased`` says which ones ``GET /v1/erasures`` should name.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from basewatch_shared.contract.money import from_micros, to_micros
from basewatch_shared.contract.vocabulary import (
    IN_USE,
    PAYING,
    CustomerStatus,
    InstallationStatus,
    Segment,
)

_Kind = tuple[Segment, CustomerStatus]


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

    def status(self, at: datetime, thresholds: Thresholds) -> InstallationStatus:
        if self.uninstalled_at is not None and (
            self.activity is None or self.uninstalled_at >= self.activity
        ):
            return InstallationStatus.UNINSTALLED
        silent = at - self.activity if self.activity else timedelta(0)
        if silent >= thresholds.churn_after:
            return InstallationStatus.CHURNED
        if silent >= thresholds.at_risk_after:
            return InstallationStatus.AT_RISK
        return InstallationStatus.ACTIVE


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
        # Customers whose erasure ingest accepted: they still count everywhere above.
        self.erased: set[str] = set()

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
        kinds = self._kinds(statuses, thresholds.loyal_min_orders)
        by_status = Counter(statuses.values())
        return {
            "customer_base": {
                "total": _count(kinds, PAYING, CustomerStatus),
                "by_segment": {s.value: _count(kinds, (s,), CustomerStatus) for s in Segment},
                "by_status": {t.value: _count(kinds, Segment, (t,)) for t in CustomerStatus},
            },
            "installed_base": {
                "total": sum(by_status[s] for s in IN_USE),
                "by_status": {s.value: by_status[s] for s in InstallationStatus},
                "by_product": self._by_product(statuses),
                # The catalog's few products are far fewer than the summary lists
                # before it cuts the list (docs/read-api.md).
                "more_products": False,
            },
            "overlap": self._overlap(kinds, statuses),
        }

    def _kinds(
        self, statuses: dict[str, InstallationStatus], loyal_min_orders: int
    ) -> Counter[_Kind]:
        """How many customers of each (segment, status)."""
        owned: dict[str, list[InstallationStatus]] = defaultdict(list)
        for installation_id, inst in self.installations.items():
            if inst.customer_id is not None:
                owned[inst.customer_id].append(statuses[installation_id])
        return Counter(
            _kind(len(orders), owned.get(customer_id, []), loyal_min_orders)
            for customer_id, orders in self.customers.items()
        )

    def _overlap(
        self, kinds: Counter[_Kind], statuses: dict[str, InstallationStatus]
    ) -> dict[str, int]:
        """Where the customer base and the installed base meet."""
        active = (CustomerStatus.ACTIVE,)
        return {
            "paying_and_active": _count(kinds, PAYING, active),
            "paying_and_lapsed": _count(kinds, PAYING, (CustomerStatus.LAPSED,)),
            "paying_never_installed": _count(kinds, PAYING, (CustomerStatus.NEVER_INSTALLED,)),
            "active_not_paying_customers": _count(kinds, (Segment.PROSPECT,), active),
            "active_not_paying_installations": sum(
                1
                for i, inst in self.installations.items()
                if statuses[i] in IN_USE and not self.customers.get(inst.customer_id or "")
            ),
        }

    def _by_product(self, statuses: dict[str, InstallationStatus]) -> list[dict[str, Any]]:
        counts: dict[str | None, Counter[InstallationStatus]] = defaultdict(Counter)
        for installation_id, inst in self.installations.items():
            counts[inst.product_id][statuses[installation_id]] += 1
        return [
            {
                "product_id": product_id,
                "installations": sum(counts[product_id].values()),
                **{s.value: counts[product_id][s] for s in InstallationStatus},
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
            if (
                inst.activity is None
                or inst.status(at, thresholds) == InstallationStatus.UNINSTALLED
            ):
                continue
            for limit in (thresholds.at_risk_after, thresholds.churn_after):
                crossing = inst.activity + limit
                if crossing <= at:
                    last = crossing if last is None else max(last, crossing)
                else:
                    after = crossing if after is None else min(after, crossing)
        return last, after


def _count(
    kinds: Counter[_Kind], segments: Iterable[Segment], statuses: Iterable[CustomerStatus]
) -> int:
    """Customers of any of ``segments`` with any of ``statuses``."""
    among = tuple(statuses)
    return sum(kinds[(segment, status)] for segment in segments for status in among)


def _kind(orders: int, statuses: list[InstallationStatus], loyal_min_orders: int) -> _Kind:
    """(segment, status) of a customer, by the contract's rules."""
    if orders >= loyal_min_orders:
        segment = Segment.LOYAL
    elif orders:
        segment = Segment.ONE_TIME
    else:
        segment = Segment.PROSPECT if statuses else Segment.SUSPECT
    if any(s in IN_USE for s in statuses):
        status = CustomerStatus.ACTIVE
    elif not orders:
        status = CustomerStatus.NONE
    else:
        status = CustomerStatus.LAPSED if statuses else CustomerStatus.NEVER_INSTALLED
    return segment, status

"""The second opinion: what the tables must hold, written from the contract alone.

Nothing here comes from ``basewatch_projector``: the rules are re-read from
docs/tables.md and docs/signals.md and kept as plain as possible, so that a rule the
projector gets wrong shows up as a difference instead of being copied.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.support.checker.history import Event

IN_USE = ("active", "at_risk")
Stamp = tuple[datetime, str]  # (occurred_at, event_id): the later one wins
SignalKey = tuple[str, str | None, str | None, str, str]  # kind, installation, customer, from, to


def parse_time(text: str) -> datetime:
    """An RFC 3339 timestamp (Z or an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def micros(amount: str | float | int) -> int:
    """An amount as it was written, in exact micro-units (a JSON number as its repr)."""
    exact = Decimal(repr(amount)) if isinstance(amount, float) else Decimal(str(amount))
    scaled = exact * 1_000_000
    assert scaled == scaled.to_integral_value(), amount
    return int(scaled)


@dataclass
class ModelInstallation:
    """One installation as the contract says its row must be."""

    installation_id: str
    status: str = "active"
    attrs: dict[str, tuple[Stamp, Any]] = field(default_factory=dict)
    installed_at: datetime | None = None
    last_heartbeat_at: datetime | None = None
    usage: tuple[Stamp, dict[str, Any]] | None = None
    uninstalled_at: datetime | None = None

    def attr(self, name: str) -> Any:
        held = self.attrs.get(name)
        return held[1] if held else None

    @property
    def activity(self) -> datetime | None:
        """Silence is measured from the later of installed_at and last_heartbeat_at."""
        times = [t for t in (self.installed_at, self.last_heartbeat_at) if t is not None]
        return max(times, default=None)


@dataclass
class ModelCustomer:
    """One customer's facts: traits by last writer, purchases by event_id."""

    customer_id: str
    traits: dict[str, tuple[Stamp, Any]] = field(default_factory=dict)
    purchases: dict[str, Event] = field(default_factory=dict)


@dataclass
class Model:
    """Folds acknowledged events phase by phase; ``sweep`` applies silence (docs/signals.md)."""

    at_risk_after: timedelta
    churn_after: timedelta
    loyal_min_orders: int = 2
    customers: dict[str, ModelCustomer] = field(default_factory=dict)
    installations: dict[str, ModelInstallation] = field(default_factory=dict)
    signals: Counter[SignalKey] = field(default_factory=Counter)
    events_of: dict[str, set[str]] = field(default_factory=dict)  # entity -> event ids

    # -- facts ------------------------------------------------------------------------

    def _customer(self, cid: str) -> ModelCustomer:
        return self.customers.setdefault(cid, ModelCustomer(cid))

    def _note(self, entity: str, event_id: str) -> None:
        self.events_of.setdefault(entity, set()).add(event_id)

    def apply(self, events: list[Event], received: datetime) -> None:
        """Apply one phase's acknowledged events (any order, duplicates included), received
        at ``received`` or later: a heartbeat that happened at_risk_after or more before
        it is stale and revives nothing (its times here are far from that line)."""
        before_inst = {i: m.status for i, m in self.installations.items()}
        before_cust = self.statuses()
        moved: dict[str, datetime | None] = {}
        revived: dict[str, datetime] = {}  # the latest install or fresh heartbeat
        for event in {e["event_id"]: e for e in events}.values():
            when = parse_time(event["occurred_at"])
            stamp = (when, event["event_id"])
            kind = event["type"]
            if kind in ("identify", "purchase"):
                customer = self._customer(event["customer_id"])
                self._note(customer.customer_id, event["event_id"])
                if kind == "purchase":
                    customer.purchases[event["event_id"]] = event
                for key, value in (event.get("traits") or {}).items():
                    if key not in customer.traits or stamp > customer.traits[key][0]:
                        customer.traits[key] = (stamp, value)
                continue
            if event.get("customer_id") is not None:  # one row per customer_id ever seen
                self._customer(event["customer_id"])
            iid = event["installation_id"]
            inst = self.installations.get(iid) or ModelInstallation(iid)
            self.installations[iid] = inst
            moved.setdefault(iid, inst.activity)
            self._note(iid, event["event_id"])
            for name in ("customer_id", "product_id", "version", "platform"):
                held = inst.attrs.get(name)
                if kind == "uninstall" or event.get(name) is None:
                    continue  # an uninstall names nothing about the installation
                if held is None or stamp > held[0]:
                    inst.attrs[name] = (stamp, event[name])
            if kind == "install" or (kind == "heartbeat" and received - when < self.at_risk_after):
                revived[iid] = max(when, revived.get(iid, when))
            if kind == "install":
                inst.installed_at = max(filter(None, (inst.installed_at, when)))
            elif kind == "heartbeat":
                inst.last_heartbeat_at = max(filter(None, (inst.last_heartbeat_at, when)))
                if "usage" in event and (inst.usage is None or stamp > inst.usage[0]):
                    inst.usage = (stamp, event["usage"])
            else:
                inst.uninstalled_at = max(filter(None, (inst.uninstalled_at, when)))
        for iid, activity_before in moved.items():
            inst = self.installations[iid]
            self._settle(inst, activity_before, revived.get(iid))
        for cid in {i.attr("customer_id") for i in self.installations.values()} - {None}:
            self._customer(cid)
        self._signal_changes(before_inst, before_cust, new_start="active")

    def _settle(
        self, inst: ModelInstallation, before: datetime | None, revived: datetime | None
    ) -> None:
        """uninstalled while the uninstall is the latest thing that happened; back to
        active on activity after an uninstall, or when at_risk/churned on an install or a
        fresh heartbeat later than the activity before."""
        activity = inst.activity
        if inst.uninstalled_at is not None and (
            activity is None or inst.uninstalled_at >= activity
        ):
            inst.status = "uninstalled"
        elif inst.status == "uninstalled" or (
            revived is not None and (before is None or revived > before)
        ):
            inst.status = "active"  # new activity (an active one stays active)

    def sweep(self, clock: datetime) -> None:
        """Installations silent past a threshold move on (active may go straight to churned)."""
        before_inst = {i: m.status for i, m in self.installations.items()}
        before_cust = self.statuses()
        for inst in self.installations.values():
            if inst.status not in IN_USE or inst.activity is None:
                continue
            silent = clock - inst.activity
            if silent >= self.churn_after:
                inst.status = "churned"
            elif silent >= self.at_risk_after:
                inst.status = "at_risk"
        self._signal_changes(before_inst, before_cust, new_start="active")

    def _signal_changes(
        self, before_inst: dict[str, str], before_cust: dict[str, str], new_start: str
    ) -> None:
        for iid, inst in self.installations.items():
            previous = before_inst.get(iid, new_start)  # a new installation starts active
            if previous != inst.status:
                kind = "reactivated" if inst.status == "active" else inst.status
                key = (f"installation.{kind}", iid, inst.attr("customer_id"), previous, inst.status)
                self.signals[key] += 1
        for cid, status in self.statuses().items():
            previous = before_cust.get(cid, "none")
            if (previous, status) == ("active", "lapsed"):
                self.signals[("customer.lapsed", None, cid, previous, status)] += 1
            elif (previous, status) == ("lapsed", "active"):
                self.signals[("customer.reactivated", None, cid, previous, status)] += 1

    # -- derived ----------------------------------------------------------------------

    def owned(self) -> dict[str, list[ModelInstallation]]:
        """Installations by owner."""
        out: dict[str, list[ModelInstallation]] = {}
        for inst in self.installations.values():
            if (owner := inst.attr("customer_id")) is not None:
                out.setdefault(owner, []).append(inst)
        return out

    def statuses(self) -> dict[str, str]:
        """Every customer's status (docs/tables.md)."""
        owned = self.owned()
        return {
            cid: self._status(self.orders(c), owned.get(cid, []))
            for cid, c in self.customers.items()
        }

    @staticmethod
    def _status(orders: int, installations: list[ModelInstallation]) -> str:
        if any(i.status in IN_USE for i in installations):
            return "active"
        if not orders:
            return "none"
        return "lapsed" if installations else "never_installed"

    @staticmethod
    def orders(customer: ModelCustomer) -> int:
        """Distinct order_ids."""
        return len({p["order_id"] for p in customer.purchases.values()})

    def customer_rows(self) -> dict[str, dict[str, Any]]:
        """What GET /v1/customers must list, field by field."""
        owned, statuses = self.owned(), self.statuses()
        rows = {}
        for cid, c in self.customers.items():
            orders = self.orders(c)
            revenue: Counter[str] = Counter()
            for p in c.purchases.values():
                revenue[p["currency"]] += micros(p["amount"])
            times = [parse_time(p["occurred_at"]) for p in c.purchases.values()]
            if orders >= self.loyal_min_orders:
                seg = "loyal"
            elif orders:
                seg = "one_time"
            else:
                seg = "prospect" if owned.get(cid) else "suspect"
            rows[cid] = {
                "traits": {k: v for k, (_, v) in c.traits.items()},
                "segment": seg,
                "status": statuses[cid],
                "orders": orders,
                "revenue_micros": {cur: revenue[cur] for cur in revenue},
                "first_purchase_at": min(times, default=None),
                "last_purchase_at": max(times, default=None),
            }
        return rows

    def installation_rows(self) -> dict[str, dict[str, Any]]:
        """What GET /v1/installations must list, field by field."""
        return {
            iid: {
                "customer_id": i.attr("customer_id"),
                "product_id": i.attr("product_id"),
                "version": i.attr("version"),
                "platform": i.attr("platform"),
                "installed_at": i.installed_at,
                "last_heartbeat_at": i.last_heartbeat_at,
                "usage": i.usage[1] if i.usage else None,
                "status": i.status,
            }
            for iid, i in self.installations.items()
        }

    def summary(self) -> dict[str, Any]:
        """GET /v1/summary, from the rows above."""
        customers, installations = self.customer_rows(), self.installation_rows()
        segs = Counter(c["segment"] for c in customers.values())
        stats = Counter(c["status"] for c in customers.values())
        paying = [c for c in customers.values() if c["orders"]]
        inst_stats = Counter(i["status"] for i in installations.values())
        products: dict[str | None, Counter[str]] = {}
        for i in installations.values():
            counts = products.setdefault(i["product_id"], Counter())
            counts["installations"] += 1
            counts[i["status"]] += 1
        unpaid = sum(
            1
            for i in installations.values()
            if i["status"] in IN_USE
            and (i["customer_id"] not in customers or not customers[i["customer_id"]]["orders"])
        )
        return {
            "customer_base": {
                "total": segs["loyal"] + segs["one_time"],
                "by_segment": dict(segs),
                "by_status": dict(stats),
            },
            "installed_base": {
                "total": inst_stats["active"] + inst_stats["at_risk"],
                "by_status": dict(inst_stats),
                "by_product": {p: dict(c) for p, c in products.items()},
            },
            "overlap": {
                "paying_and_active": sum(c["status"] == "active" for c in paying),
                "paying_and_lapsed": sum(c["status"] == "lapsed" for c in paying),
                "paying_never_installed": sum(c["status"] == "never_installed" for c in paying),
                "active_not_paying_customers": sum(
                    c["segment"] == "prospect" and c["status"] == "active"
                    for c in customers.values()
                ),
                "active_not_paying_installations": unpaid,
            },
        }

"""Comparing what the read API shows with the model: lost, duplicated, mismatched."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from tests.support.checker.model import Model, SignalKey, parse_time
from tests.support.checker.observe import Observed

_TIMES = ("installed_at", "last_heartbeat_at", "first_purchase_at", "last_purchase_at")
# The contract (docs/read-api.md, the summary): by_product lists the first 100 products.
MAX_PRODUCTS = 100


@dataclass
class Verdict:
    """The outcome of one comparison."""

    lost: int = 0
    duplicated: int = 0
    mismatches: list[str] = field(default_factory=list)
    checked: Counter[str] = field(default_factory=Counter)


def _time(value: Any) -> datetime | None:
    return parse_time(value) if isinstance(value, str) else value


def _observed_customer(doc: dict[str, Any]) -> dict[str, Any]:
    revenue = {cur: int(Decimal(v) * 1_000_000) for cur, v in doc["revenue"].items()}
    return {
        "traits": doc["traits"],
        "segment": doc["segment"],
        "status": doc["status"],
        "orders": doc["orders"],
        "revenue_micros": revenue,
        "first_purchase_at": _time(doc["first_purchase_at"]),
        "last_purchase_at": _time(doc["last_purchase_at"]),
    }


def _observed_installation(doc: dict[str, Any]) -> dict[str, Any]:
    fields = ("customer_id", "product_id", "version", "platform", "usage", "status")
    return {
        **{k: doc[k] for k in fields},
        "installed_at": _time(doc["installed_at"]),
        "last_heartbeat_at": _time(doc["last_heartbeat_at"]),
    }


def _diff(kind: str, key: str, want: dict[str, Any], got: dict[str, Any]) -> str | None:
    wrong = [f"{k}: want {want[k]!r}, got {got.get(k)!r}" for k in want if want[k] != got.get(k)]
    return f"{kind} {key}: " + "; ".join(wrong) if wrong else None


def compare(model: Model, seen: Observed, *, alone: bool, signals: bool = True) -> Verdict:
    """Every customer, installation and (unless told not to) signal of the model against
    the read API; the summary too when the database holds only the model's history."""
    v = Verdict()
    _customers(model, seen, v)
    _installations(model, seen, v)
    if signals:
        _signals(model.signals, seen.signals, v)
    if alone:
        _summary(model.summary(), seen.summary, v)
    v.mismatches.sort()
    return v


def _customers(model: Model, seen: Observed, v: Verdict) -> None:
    for cid, want in model.customer_rows().items():
        v.checked["customers"] += 1
        doc = seen.customers.get(cid)
        if doc is None:
            v.lost += len(model.events_of.get(cid, ())) or 1
            v.mismatches.append(f"customer {cid}: missing")
            continue
        got = _observed_customer(doc)
        gap = want["orders"] - got["orders"]
        v.lost += max(gap, 0)
        v.duplicated += max(-gap, 0)
        for cur in want["revenue_micros"].keys() | got["revenue_micros"].keys():
            w, g = want["revenue_micros"].get(cur, 0), got["revenue_micros"].get(cur, 0)
            v.lost += int(g < w)
            v.duplicated += int(g > w)
        if (line := _diff("customer", cid, want, got)) is not None:
            v.mismatches.append(line)
    for cid in seen.customers.keys() - model.customers.keys():
        v.mismatches.append(f"customer {cid}: not in the model (a refused event applied?)")


def _installations(model: Model, seen: Observed, v: Verdict) -> None:
    for iid, want in model.installation_rows().items():
        v.checked["installations"] += 1
        doc = seen.installations.get(iid)
        if doc is None:
            v.lost += len(model.events_of.get(iid, ())) or 1
            v.mismatches.append(f"installation {iid}: missing")
            continue
        got = _observed_installation(doc)
        for name in ("installed_at", "last_heartbeat_at"):  # the latest one did not arrive
            v.lost += int(want[name] is not None and (got[name] is None or got[name] < want[name]))
        v.lost += int(want["status"] == "uninstalled" != got["status"])
        if (line := _diff("installation", iid, want, got)) is not None:
            v.mismatches.append(line)
    for iid in seen.installations.keys() - model.installations.keys():
        v.mismatches.append(f"installation {iid}: not in the model")


def _signals(want: Counter[SignalKey], seen: list[dict[str, Any]], v: Verdict) -> None:
    got: Counter[SignalKey] = Counter(
        (
            s["kind"],
            s["installation_id"],
            s["customer_id"],
            s["previous_status"],
            s["status"],
        )
        for s in seen
    )
    v.checked["signals"] = sum(want.values())
    for key in want.keys() | got.keys():
        if got[key] > want[key]:
            v.duplicated += got[key] - want[key]
        if got[key] != want[key]:
            v.mismatches.append(f"signal {key}: want {want[key]}, got {got[key]}")


def shown_products(products: dict[str | None, Any]) -> dict[str | None, Any]:
    """The products the summary lists: the first MAX_PRODUCTS in text order, null last."""
    order = sorted(products, key=lambda p: (p is None, p or ""))
    return {p: products[p] for p in order[:MAX_PRODUCTS]}


def _summary(want: dict[str, Any], got: dict[str, Any], v: Verdict) -> None:
    v.checked["summary"] = 1
    by_product = {
        p["product_id"]: {k: n for k, n in p.items() if k != "product_id" and n}
        for p in got["installed_base"]["by_product"]
    }
    products = want["installed_base"]["by_product"]
    pairs = [
        ("customer_base.total", want["customer_base"]["total"], got["customer_base"]["total"]),
        ("installed_base.total", want["installed_base"]["total"], got["installed_base"]["total"]),
        ("installed_base.by_product", shown_products(products), by_product),
        (
            "installed_base.more_products",
            len(products) > MAX_PRODUCTS,
            got["installed_base"]["more_products"],
        ),
    ]
    for section, part in (
        ("customer_base", "by_segment"),
        ("customer_base", "by_status"),
        ("installed_base", "by_status"),
    ):
        nonzero = {k: n for k, n in got[section][part].items() if n}
        pairs.append((f"{section}.{part}", want[section][part], nonzero))
    pairs.extend((f"overlap.{k}", n, got["overlap"].get(k)) for k, n in want["overlap"].items())
    v.mismatches.extend(f"summary {name}: want {w!r}, got {g!r}" for name, w, g in pairs if w != g)

"""The checker's own judgement: a faithful read API passes, each kind of damage is named."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from tests.support.checker.compare import MAX_PRODUCTS, compare, shown_products
from tests.support.checker.history import generate, iso
from tests.support.checker.model import Model
from tests.support.checker.observe import Observed


def _doc(row: dict[str, Any]) -> dict[str, Any]:
    """A model row as the read API writes it (times as text, money as decimal strings)."""
    out: dict[str, Any] = {k: iso(v) if isinstance(v, datetime) else v for k, v in row.items()}
    if "revenue_micros" in out:
        micros: dict[str, int] = out.pop("revenue_micros")
        out["revenue"] = {c: str(Decimal(m) / 1_000_000) for c, m in micros.items()}
    return out


def _faithful(model: Model) -> Observed:
    summary = model.summary()
    by_product = summary["installed_base"].pop("by_product")
    summary["installed_base"]["by_product"] = [
        {"product_id": p, **counts} for p, counts in shown_products(by_product).items()
    ]
    summary["installed_base"]["more_products"] = len(by_product) > MAX_PRODUCTS
    signals = [
        {
            "kind": kind,
            "installation_id": inst,
            "customer_id": cust,
            "previous_status": before,
            "status": after,
        }
        for (kind, inst, cust, before, after), n in model.signals.items()
        for _ in range(n)
    ]
    return Observed(
        {cid: _doc(row) for cid, row in model.customer_rows().items()},
        {iid: _doc(row) for iid, row in model.installation_rows().items()},
        signals,
        summary,
    )


def _model() -> Model:
    history = generate(60, seed=3, tag="t")
    model = Model(timedelta(days=3), timedelta(days=14))
    valid = [
        [e for s in p.steps for e in s if e["event_id"] not in history.invalid_ids]
        for p in history.phases
    ]
    for events in valid:
        model.apply(events, datetime.now(UTC))
        model.sweep(datetime.now(UTC))
    return model


def test_a_faithful_read_api_passes() -> None:
    model = _model()
    verdict = compare(model, _faithful(model), alone=True)
    assert (verdict.lost, verdict.duplicated, verdict.mismatches) == (0, 0, [])
    assert verdict.checked["signals"] > 0  # the history does churn, lapse and come back


def test_a_purchase_counted_twice_or_lost_and_a_signal_twice_are_named() -> None:
    model = _model()
    buyer = next(c for c, row in model.customer_rows().items() if row["orders"] == 1)
    seen = _faithful(model)
    doubled = copy.deepcopy(seen)
    doubled.customers[buyer]["orders"] = 2
    doubled.signals.append(doubled.signals[0])
    verdict = compare(model, doubled, alone=False)
    assert (verdict.lost, verdict.duplicated) == (0, 2)
    lost = copy.deepcopy(seen)
    lost.customers[buyer]["orders"] = 0
    lost.customers[buyer]["revenue"] = {}
    verdict = compare(model, lost, alone=False)
    assert verdict.lost == 2 and verdict.duplicated == 0  # the order, and its currency
    assert verdict.mismatches[0].startswith(f"customer {buyer}: ")


def test_a_missing_installation_loses_every_event_it_had() -> None:
    model = _model()
    seen = _faithful(model)
    gone = next(iter(seen.installations))
    del seen.installations[gone]
    verdict = compare(model, seen, alone=False)
    assert verdict.lost == len(model.events_of[gone]) > 0
    assert f"installation {gone}: missing" in verdict.mismatches


def test_the_summary_is_judged_on_its_first_hundred_products_and_says_there_are_more() -> None:
    # The live fuzz's soak (400 histories) sends more than 100 products: the checker
    # wanted every one of them in a summary that lists the first 100, and failed.
    model = Model(timedelta(days=3), timedelta(days=14))
    now = datetime.now(UTC)
    installs = [
        {
            "event_id": f"e{n}",
            "type": "install",
            "occurred_at": iso(now),
            "installation_id": f"i{n}",
            "product_id": None if n == 0 else f"p{n:03}",
        }
        for n in range(MAX_PRODUCTS + 1)
    ]
    model.apply(installs, now)
    seen = _faithful(model)
    listed = [p["product_id"] for p in seen.summary["installed_base"]["by_product"]]
    assert listed == [f"p{n:03}" for n in range(1, MAX_PRODUCTS + 1)]  # null is the 101st
    assert compare(model, seen, alone=True).mismatches == []
    seen.summary["installed_base"]["more_products"] = False
    assert compare(model, seen, alone=True).mismatches == [
        "summary installed_base.more_products: want True, got False"
    ]
    seen.summary["installed_base"]["more_products"] = True
    seen.summary["installed_base"]["by_product"].pop()
    assert (
        compare(model, seen, alone=True)
        .mismatches[0]
        .startswith("summary installed_base.by_product: ")
    )

"""Deterministic event histories for tests: realistic, with duplicates and disorder."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

T0 = datetime(2026, 11, 1, tzinfo=UTC)
RECEIVED = "2026-11-20T00:00:00Z"


def ts(seconds: float) -> str:
    """An RFC 3339 UTC timestamp ``seconds`` after T0."""
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Out:
    """One record to produce: which topic family, its key and its encoded value."""

    kind: str  # "customers" or "telemetry"
    key: bytes
    value: bytes


def record(event: dict[str, Any]) -> bytes:
    """The record value a basewatch ingest would produce for ``event``."""
    return orjson.dumps(
        event | {"received_at": RECEIVED, "source": "test"}, option=orjson.OPT_SORT_KEYS
    )


def history(
    customers: int,
    installations: int,
    heartbeats: int,
    *,
    seed: int = 1,
    duplicate_every: int = 7,
    currencies: tuple[str, ...] = ("EUR", "USD"),
) -> Iterator[Out]:
    """Identifies, purchases in several currencies, installs, heartbeats, uninstalls.

    Every ``duplicate_every``-th event is sent twice (a client retry), and heartbeats
    of an installation arrive out of order.
    """
    rng = random.Random(seed)
    n = 0

    def emit(kind: str, key: str, event: dict[str, Any]) -> Iterator[Out]:
        nonlocal n
        n += 1
        out = Out(kind, key.encode(), record(event))
        yield out
        if n % duplicate_every == 0:
            yield out

    for c in range(customers):
        cid = f"c{c}"
        yield from emit(
            "customers",
            cid,
            {
                "event_id": f"id{c}",
                "type": "identify",
                "occurred_at": ts(c),
                "customer_id": cid,
                "traits": {"name": f"Customer {c}", "country": rng.choice(["DE", "US", "FR"])},
            },
        )
        for k in range(c % 3):  # 0, 1 or 2 orders: suspects/prospects, one_time, loyal
            yield from emit(
                "customers",
                cid,
                {
                    "event_id": f"buy{c}-{k}",
                    "type": "purchase",
                    "occurred_at": ts(1000 + c + k),
                    "customer_id": cid,
                    "order_id": f"o{c}-{k}",
                    "product_id": f"p{k % 2}",
                    "amount": f"{rng.randint(1, 50000) / 100:.2f}",
                    "currency": currencies[(c + k) % len(currencies)],
                    "quantity": 1 + k,
                },
            )
    for i in range(installations):
        iid = f"i{i}"
        yield from emit(
            "telemetry",
            iid,
            {
                "event_id": f"ins{i}",
                "type": "install",
                "occurred_at": ts(2000 + i),
                "customer_id": f"c{i % customers}",
                "installation_id": iid,
                "product_id": f"p{i % 2}",
                "version": "1.0",
            },
        )
    for h in range(heartbeats):
        i = rng.randrange(installations)
        # Out of order: occurred_at is random within a window, not increasing.
        yield from emit(
            "telemetry",
            f"i{i}",
            {
                "event_id": f"hb{h}",
                "type": "heartbeat",
                "occurred_at": ts(5000 + rng.randrange(10000)),
                "installation_id": f"i{i}",
                "version": rng.choice(["1.0", "1.1"]),
                "usage": {"sessions": rng.randrange(100)},
            },
        )
    for i in range(0, installations, 10):
        yield from emit(
            "telemetry",
            f"i{i}",
            {
                "event_id": f"un{i}",
                "type": "uninstall",
                "occurred_at": ts(20000 + i),
                "installation_id": f"i{i}",
            },
        )

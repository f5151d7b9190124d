"""Events of every type, with their required fields and with every optional one.

The examples the contract's tests (test_events, test_records) and the fast paths' tests
share.
"""

from __future__ import annotations

from typing import Any

REQUIRED: dict[str, dict[str, Any]] = {
    "identify": {"customer_id": "cus-1"},
    "purchase": {
        "customer_id": "cus-1",
        "order_id": "ord-1",
        "product_id": "editor",
        "amount": "19.99",
        "currency": "USD",
    },
    "install": {
        "customer_id": "cus-1",
        "installation_id": "inst-1",
        "product_id": "editor",
        "version": "4.2.1",
    },
    "heartbeat": {"installation_id": "inst-1"},
    "uninstall": {"installation_id": "inst-1"},
}

EVERYTHING: dict[str, dict[str, Any]] = {
    "identify": {"traits": {"email": "a@b.example", "name": "Ada", "company": "X", "plan": "pro"}},
    "purchase": {"quantity": 2},
    "install": {"platform": "linux"},
    "heartbeat": {"product_id": "editor", "version": "4.2.1", "platform": "macos"},
    "uninstall": {},
}

COMMON = {"event_id": "evt-1", "occurred_at": "2024-05-01T14:00:00+02:00"}
FULL: dict[str, dict[str, Any]] = {
    "identify": {
        "customer_id": "cus-1",
        "traits": {"email": "a@b.example", "country": "de", "plan": "pro", "seats": 3, "x": 0.5},
        "properties": {"utm": {"source": "ads", "tags": ["a", None, 1.5]}},
    },
    "purchase": {
        "customer_id": "cus-1",
        "order_id": "ord-1",
        "product_id": "editor",
        "amount": 19.99,
        "currency": "eur",
        "sent_at": "2024-05-01T12:00:03Z",
    },
    "install": {
        "customer_id": "cus-1",
        "installation_id": "inst-1",
        "product_id": "editor",
        "version": "4.2.1",
        "platform": "linux",
    },
    "heartbeat": {
        "installation_id": "inst-1",
        "version": "4.2.1",
        "usage": {"sessions": 3, "active_minutes": 12.5},
    },
    "uninstall": {"installation_id": "inst-1", "customer_id": "cus-1"},
}

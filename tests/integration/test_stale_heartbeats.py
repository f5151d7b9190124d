"""A stale heartbeat (received at_risk_after or more after it happened) revives nothing.

The issue's scenario on the real broker and both databases: install, let it churn, then
a heartbeat that happened a second after the install arrives seconds later. It moves
last_heartbeat_at forward and changes no status; a fresh heartbeat after it reactivates.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_projector.storage.tables import installations, signals
from basewatch_shared.topics import Topics
from tests.support.history import Out
from tests.support.kafka import produce
from tests.support.polling import eventually
from tests.support.services import serve
from tests.support.tables import applied_offsets

SHORT = {"at_risk_after": "2s", "churn_after": "4s", "sweep_interval": "0.3s"}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _record(kind: str, key: str, event: dict[str, Any], occurred: datetime) -> Out:
    """A record as ingest produces it: received now, happened at ``occurred``."""
    value = event | {
        "occurred_at": _iso(occurred),
        "received_at": _iso(datetime.now(UTC)),
        "source": "test",
    }
    return Out(kind, key.encode(), orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def _heartbeat(event_id: str, occurred: datetime) -> Out:
    event = {"event_id": event_id, "type": "heartbeat", "installation_id": "i1"}
    return _record("telemetry", "i1", event, occurred)


async def _signals(engine: AsyncEngine) -> Counter[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(signals))
        return Counter((r.kind, r.installation_id or r.customer_id) for r in rows)


async def test_a_stale_heartbeat_reactivates_nothing_a_fresh_one_does(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    installed = datetime.now(UTC)
    purchase = {
        "event_id": "buy",
        "type": "purchase",
        "customer_id": "c1",
        "order_id": "o1",
        "product_id": "p1",
        "amount": "5",
        "currency": "EUR",
    }
    install = {
        "event_id": "in",
        "type": "install",
        "installation_id": "i1",
        "customer_id": "c1",
        "product_id": "p1",
        "version": "1",
    }
    sent = await produce(
        kafka_bootstrap,
        topics,
        [
            _record("customers", "c1", purchase, installed),
            _record("telemetry", "i1", install, installed),
        ],
    )
    settings = projector_settings(**SHORT, hold_min_transitions=1000)
    async with serve(create_app(settings)):
        await eventually(
            lambda: _signals(migrated), lambda s: s[("customer.lapsed", "c1")] == 1, within=30
        )
        # Received now, 4 s or more after it happened: stale for at_risk_after 2 s.
        stale = installed + timedelta(seconds=1)
        sent += await produce(kafka_bootstrap, topics, [_heartbeat("stale", stale)])
        await eventually(lambda: applied_offsets(migrated, group_id), lambda n: n == sent)
        async with migrated.connect() as conn:
            row = (
                await conn.execute(
                    select(installations.c.status, installations.c.last_heartbeat_at)
                )
            ).one()
        assert (row.status, row.last_heartbeat_at) == ("churned", stale)
        churned_only = await _signals(migrated)
        sent += await produce(kafka_bootstrap, topics, [_heartbeat("fresh", datetime.now(UTC))])
        await eventually(
            lambda: _signals(migrated),
            lambda s: s[("customer.reactivated", "c1")] == 1,
            within=30,
        )
    assert churned_only == Counter(
        {
            ("installation.at_risk", "i1"): 1,
            ("installation.churned", "i1"): 1,
            ("customer.lapsed", "c1"): 1,
        }
    )
    assert await _signals(migrated) == churned_only + Counter(
        {("installation.reactivated", "i1"): 1, ("customer.reactivated", "c1"): 1}
    )

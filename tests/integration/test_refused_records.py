"""A record that decodes but that the database refuses: dead-lettered, never lost.

No record the contract accepts is refused by basewatch's own schema, so a test trigger
(installed on the real database, PostgreSQL or SQLite) refuses one order: what any
constraint the database adds, or a bug in the projection, would look like.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_projector.storage.tables import purchases
from basewatch_shared.topics import Topics
from tests.support.history import Out, record, ts
from tests.support.kafka import produce, read_records
from tests.support.keys import READ_AUTH
from tests.support.metrics import metric
from tests.support.polling import eventually
from tests.support.services import serve
from tests.support.tables import applied_offsets

REFUSED = "refused-order"
ORDERS = 9

_SQLITE_TRIGGER = f"""
CREATE TRIGGER refuse_one_order BEFORE INSERT ON purchases
WHEN NEW.order_id = '{REFUSED}'
BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END
"""
_POSTGRES_FUNCTION = f"""
CREATE FUNCTION refuse_one_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.order_id = '{REFUSED}' THEN
    RAISE EXCEPTION 'refused by a test trigger' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$
"""
_POSTGRES_TRIGGER = """
CREATE TRIGGER refuse_one_order BEFORE INSERT ON purchases
FOR EACH ROW EXECUTE FUNCTION refuse_one_order()
"""


async def _refuse_one_order(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            await conn.execute(text(_SQLITE_TRIGGER))
        else:
            await conn.execute(text(_POSTGRES_FUNCTION))
            await conn.execute(text(_POSTGRES_TRIGGER))


def _purchase(n: int, order_id: str) -> Out:
    event = {
        "event_id": f"buy-{n}",
        "type": "purchase",
        "occurred_at": ts(n),
        "customer_id": "c1",
        "order_id": order_id,
        "product_id": "p1",
        "amount": "10.00",
        "currency": "EUR",
    }
    return Out("customers", b"c1", record(event))


@pytest.mark.parametrize("at", [0, ORDERS // 2, ORDERS], ids=["first", "middle", "last"])
async def test_a_record_the_database_refuses_is_dead_lettered_and_the_rest_applied(
    at: int,
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    await _refuse_one_order(migrated)
    outs = [_purchase(n, f"order-{n}") for n in range(ORDERS)]
    refused = _purchase(ORDERS, REFUSED)
    outs.insert(at, refused)
    # One key, one partition, produced before the projector starts: one batch.
    sent = await produce(kafka_bootstrap, topics, outs)
    async with serve(create_app(projector_settings())) as api:
        await eventually(lambda: applied_offsets(migrated, group_id), lambda n: n == sent)
        customer = (await api.get("/v1/customers/c1", headers=READ_AUTH)).json()
        dead_lettered = await metric(
            api, "basewatch_projector_events_total", outcome="dead_lettered"
        )
    async with migrated.connect() as conn:
        ledger = await conn.scalar(select(func.count()).select_from(purchases))
    assert (ledger, customer["orders"], dead_lettered) == (ORDERS, ORDERS, 1)
    dead = await read_records(kafka_bootstrap, [topics.deadletter])
    assert [r.value for r in dead] == [refused.value]
    headers = dict(dead[0].headers)
    assert int(headers["basewatch.original.offset"]) == at
    # The error's class only (IntegrityError, CheckViolationError): no value of the record.
    assert re.fullmatch(rb"database refused the record: \w+Error", headers["basewatch.error"])

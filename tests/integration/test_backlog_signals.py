"""Under a backlog, signals are exactly those of the silences that really happened
(issue 15, item 3), on the real broker and both databases.

A load generator sends a heartbeat for every installation every half second and
records when it really sent each one (the record's receive time is that moment). Some
installations pause long enough for at_risk, some for churned; the rest never pause.
The projector is down while every pause happens and starts on a backlog that holds each
paused installation's next heartbeat behind its deadlines, and catches up while the load
goes on. The signals must be exactly the ones the real send times call for, at their
deadlines; the steady installations get none. ``BASEWATCH_SOAK=1`` runs ten times as
many installations.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings
from basewatch_projector.storage.tables import installations, signals
from basewatch_shared.topics import Topics
from tests.support.polling import eventually
from tests.support.profiles import scale
from tests.support.services import serve
from tests.support.tables import applied_offsets
from tests.support.timeline import purchase

pytestmark = pytest.mark.slow

AT_RISK, CHURN = timedelta(seconds=2), timedelta(seconds=4)
# History boundaries every second: the purchases (customers topic) are applied before
# any telemetry received a second later, so every customer has its order when it lapses.
SETTINGS = {
    "at_risk_after": "2s",
    "churn_after": "4s",
    "hold_min_transitions": 100_000,
    "history_interval": "1s",
}
BEAT = 0.5  # seconds between two heartbeats of an installation
LOAD_S, DOWN_S = 12.0, 8.0  # how long the load runs; the projector starts this late
# Per kind: (how many, pause start and end in seconds after the load starts).
KINDS = {
    "steady": (scale(20), None),
    "short": (scale(5), (1.0, 4.0)),
    "long": (scale(5), (1.0, 6.5)),
}
Signal = tuple[str, str, datetime]


def _value(event: dict[str, object], at: datetime) -> bytes:
    stamp = at.isoformat().replace("+00:00", "Z")
    body = event | {"occurred_at": stamp, "received_at": stamp, "source": "load"}
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS)


class Load:
    """Sends the plan on time as far as it can, and records what it really sent when."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        self.bootstrap, self.topics = bootstrap, topics
        self.sent: dict[str, list[datetime]] = defaultdict(list)  # heartbeats and install
        self.uninstalled: dict[str, datetime] = {}
        self.records = 0
        self.ids = [f"{kind}{n}" for kind, (count, _) in KINDS.items() for n in range(count)]

    def _paused(self, iid: str, elapsed: float) -> bool:
        pause = KINDS[iid.rstrip("0123456789")][1]
        return pause is not None and pause[0] <= elapsed < pause[1]

    async def run(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all")
        await producer.start()
        try:
            await self._start(producer)
            loop = asyncio.get_running_loop()
            began = loop.time()
            while (elapsed := loop.time() - began) < LOAD_S:
                now = datetime.now(UTC)
                beating = [i for i in self.ids if not self._paused(i, elapsed)]
                await self._send(producer, "heartbeat", beating, now)
                await asyncio.sleep(max(0.0, began + (elapsed // BEAT + 1) * BEAT - loop.time()))
            now = datetime.now(UTC)
            await self._send(producer, "uninstall", self.ids, now)
        finally:
            await producer.stop()

    async def _start(self, producer: AIOKafkaProducer) -> None:
        now = datetime.now(UTC)
        for iid in self.ids:
            await producer.send_and_wait(
                self.topics.customers, _value(purchase(iid), now), key=f"c-{iid}".encode()
            )
        self.records += len(self.ids)
        await self._send(producer, "install", self.ids, now)

    async def _send(
        self, producer: AIOKafkaProducer, kind: str, ids: list[str], now: datetime
    ) -> None:
        sends = []
        for iid in ids:
            event: dict[str, object] = {
                "event_id": f"{iid}-{kind}-{now.timestamp()}",
                "type": kind,
                "installation_id": iid,
            }
            if kind == "install":
                event |= {"customer_id": f"c-{iid}", "product_id": "p1", "version": "1"}
            sends.append(
                await producer.send(self.topics.telemetry, _value(event, now), key=iid.encode())
            )
        await asyncio.gather(*sends)
        self.records += len(ids)
        for iid in ids:
            if kind == "uninstall":
                self.uninstalled[iid] = now
            else:
                self.sent[iid].append(now)


def expected(load: Load) -> list[Signal]:
    """What the real send times call for: each silence's deadlines passed before the
    next heartbeat was received, and the reactivation by that heartbeat."""
    out: list[Signal] = []
    for iid, times in load.sent.items():
        customer = f"c-{iid}"
        for last, following in itertools.pairwise(times):
            if last + AT_RISK <= following:
                out.append(("installation.at_risk", iid, last + AT_RISK))
                out.append(("installation.reactivated", iid, following))
            if last + CHURN <= following:
                out.append(("installation.churned", iid, last + CHURN))
                out.append(("customer.lapsed", customer, last + CHURN))
                out.append(("customer.reactivated", customer, following))
        out.append(("installation.uninstalled", iid, load.uninstalled[iid]))
        out.append(("customer.lapsed", customer, load.uninstalled[iid]))
    return sorted(out)


async def stored(engine: AsyncEngine) -> list[Signal]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(signals))
        return sorted((r.kind, r.installation_id or r.customer_id, r.occurred_at) for r in rows)


async def test_a_backlog_gives_exactly_the_signals_of_the_real_silences(
    migrated: AsyncEngine,
    topics: Topics,
    kafka_bootstrap: str,
    group_id: str,
    projector_settings: Callable[..., Settings],
) -> None:
    load = Load(kafka_bootstrap, topics)
    sending = asyncio.create_task(load.run())
    await asyncio.sleep(DOWN_S)  # the projector is down: the pauses end inside the backlog
    async with serve(create_app(projector_settings(**SETTINGS, batch_max_records=50))):
        await sending
        await eventually(
            lambda: applied_offsets(migrated, group_id), lambda n: n == load.records, within=60
        )
        want = expected(load)
        seen = await eventually(lambda: stored(migrated), lambda s: len(s) >= len(want))
    assert load.uninstalled and len(load.sent) == len(load.ids)
    steady = {iid for iid in load.ids if iid.startswith("steady")}
    # A steady installation whose generator really was late past at_risk_after is not
    # steady: the expectation follows the send times, whatever they were.
    late = {i for k, i, _ in want if k == "installation.at_risk"} & steady
    print(
        f"{len(load.ids)} installations, {load.records} records; {len(want)} signals "
        f"expected; steady installations the generator was late for: {sorted(late)}"
    )
    assert seen == want
    async with migrated.connect() as conn:
        rows = await conn.execute(select(installations.c.installation_id, installations.c.status))
        assert {r.installation_id: r.status for r in rows} == dict.fromkeys(load.ids, "uninstalled")

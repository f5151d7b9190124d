"""Broker outages: bounded 503s with Retry-After, /readyz follows, ingest recovers by itself."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from typing import Any

import httpx

from basewatch_ingest.app import create_app
from basewatch_shared.contract.records import decode_record
from tests.support.ingest import PrivateKafka
from tests.support.kafka import read_records
from tests.support.keys import INGEST_AUTH
from tests.support.polling import eventually
from tests.support.services import serve

PRODUCE_TIMEOUT_S = 1.0  # PrivateKafka.settings()
# The produce timeout plus the request's own work, with room for a busy CI machine.
BOUND_S = PRODUCE_TIMEOUT_S + 2.0


def event(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "heartbeat",
        "occurred_at": "2026-01-01T10:00:00Z",
        "installation_id": f"inst-{event_id}",
    }


async def post(client: httpx.AsyncClient, *event_ids: str) -> httpx.Response:
    body = {"events": [event(e) for e in event_ids]}
    return await client.post("/v1/events", json=body, headers=INGEST_AUTH)


def status(code: int) -> Any:
    return lambda response: response.status_code == code


async def unavailable_within_bound(client: httpx.AsyncClient, requests: int) -> None:
    """``requests`` concurrent POSTs all get 503 with Retry-After, none waits past the bound."""
    started = time.monotonic()
    async with asyncio.timeout(BOUND_S + 5):  # a hanging request fails here, not in CI's timeout
        responses = await asyncio.gather(*(post(client, f"x{i}") for i in range(requests)))
    assert time.monotonic() - started < BOUND_S
    for response in responses:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1


async def test_frozen_broker_gives_bounded_503s_then_retries_succeed(
    private_kafka: PrivateKafka,
) -> None:
    async with serve(create_app(private_kafka.settings())) as client:
        assert (await post(client, "before")).status_code == 202
        assert (await client.get("/readyz")).status_code == 200

        private_kafka.broker.freeze()  # SIGSTOP: sockets stay open, nothing answers
        started = time.monotonic()
        async with asyncio.timeout(BOUND_S + 5):
            refused = await asyncio.gather(*(post(client, f"e{i}", f"f{i}") for i in range(10)))
        assert time.monotonic() - started < BOUND_S
        assert {r.status_code for r in refused} == {503}
        assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
        not_ready = await eventually(lambda: client.get("/readyz"), status(503), within=5)
        assert not_ready.headers["retry-after"]
        assert (await client.get("/healthz")).status_code == 200  # alive all the same

        private_kafka.broker.thaw()
        await eventually(lambda: client.get("/readyz"), status(200), within=10)
        # The client retries what was answered 503, with the same event ids.
        ids = [x for i in range(10) for x in (f"e{i}", f"f{i}")]
        retried = await post(client, *ids)
        assert retried.status_code == 202, retried.text

    records = await read_records(
        private_kafka.broker.bootstrap_servers, [private_kafka.topics.telemetry]
    )
    stored = [decode_record(r.value).event.event_id for r in records]
    # At least once each; the refused first attempts may have been stored too (the
    # projector counts an event_id once).
    assert set(stored) == {"before", *ids}


async def test_killed_broker_gives_503s_until_it_is_back(private_kafka: PrivateKafka) -> None:
    broker = private_kafka.broker
    async with serve(create_app(private_kafka.settings())) as client:
        assert (await post(client, "before")).status_code == 202

        os.kill(broker.pid, signal.SIGKILL)
        broker.stop()  # reaps it; the port stays this broker's for the restart
        await unavailable_within_bound(client, 5)
        await eventually(lambda: client.get("/readyz"), status(503), within=5)

        broker.start()  # empty: it kept everything in memory
        await private_kafka.create_topics()
        await eventually(lambda: client.get("/readyz"), status(200), within=15)
        after = await eventually(lambda: post(client, "after"), status(202), within=10)
        assert after.json() == {"accepted": 1, "rejected": []}

    records = await read_records(broker.bootstrap_servers, [private_kafka.topics.telemetry])
    assert "after" in {decode_record(r.value).event.event_id for r in records}


async def test_ingest_starts_without_a_broker_and_connects_when_it_comes(
    unstarted_kafka: PrivateKafka,
) -> None:
    started = time.monotonic()
    async with serve(create_app(unstarted_kafka.settings())) as client:
        assert time.monotonic() - started < 6  # one bounded connection attempt at most
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        await unavailable_within_bound(client, 3)

        unstarted_kafka.broker.start()
        await unstarted_kafka.create_topics()
        await eventually(lambda: client.get("/readyz"), status(200), within=15)
        assert (await post(client, "first")).status_code == 202

    records = await read_records(
        unstarted_kafka.broker.bootstrap_servers, [unstarted_kafka.topics.telemetry]
    )
    assert [decode_record(r.value).event.event_id for r in records] == ["first"]

"""The naive baseline: a FastAPI endpoint that awaits one ``send_and_wait`` per event.

It validates and encodes like ingest (the same contract, the same record bytes) but
produces the obvious way, so the benchmark shows what batching buys. No auth, no
limits: it only exists to be measured.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request, Response

from basewatch_shared.contract.events import EVENT_ADAPTER
from basewatch_shared.contract.records import corrected, encode_record, record_key, topic_kind
from basewatch_shared.topics import Topics


def create_app() -> FastAPI:
    """The baseline app; reads KAFKA_BOOTSTRAP_SERVERS and BASEWATCH_TOPIC_PREFIX."""
    topics = Topics(os.environ.get("BASEWATCH_TOPIC_PREFIX", "basewatch."))
    state: dict[str, AIOKafkaProducer] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        producer = AIOKafkaProducer(
            bootstrap_servers=os.environ["KAFKA_BOOTSTRAP_SERVERS"], acks="all"
        )
        await producer.start()
        state["producer"] = producer
        try:
            yield
        finally:
            await producer.stop()

    app = FastAPI(lifespan=lifespan)

    @app.post("/v1/events", status_code=202)
    async def post_events(request: Request) -> Response:
        doc: Any = orjson.loads(await request.body())
        raw = doc.get("events", [doc])
        received_at = datetime.now(UTC)
        for item in raw:
            event = corrected(EVENT_ADAPTER.validate_python(item), received_at)
            topic = topics.customers if topic_kind(event) == "customers" else topics.telemetry
            value = encode_record(event, received_at, "naive")
            await state["producer"].send_and_wait(topic, value, key=record_key(event))
        body = orjson.dumps({"accepted": len(raw), "rejected": []})
        return Response(body, status_code=202, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app

"""The two services in-process: settings for a test's broker and database, and serving them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.api.deps import Served
from basewatch_projector.app import create_app
from basewatch_projector.settings import Settings as ProjectorSettings
from basewatch_shared.topics import Topics
from tests.support.databases import TestDatabase
from tests.support.kafka import KafkaBackend
from tests.support.keys import MASTER_KEY, TEST_KEYS

# Test histories happen in November 2026; churn tests set short thresholds.
NO_CHURN = {"at_risk_after": "3650d", "churn_after": "3651d"}


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and give an HTTP client that talks to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


def session_timeout(kafka: KafkaBackend) -> str:
    """A short consumer session: a killed or leaving member's partitions move on soon."""
    # Joining a group takes about half a session; Apache Kafka's floor is 6 s.
    return "2s" if kafka.kind == "embedded" else "6s"


def projector_settings_for(
    kafka: KafkaBackend, topics: Topics, group: str, database: TestDatabase, **overrides: Any
) -> ProjectorSettings:
    """Projector settings for these topics, group and database; the environment is not read."""
    values: dict[str, Any] = {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "kafka_idempotence": kafka.idempotence,
        "topic_prefix": topics.prefix,
        "api_keys": TEST_KEYS,
        "master_key": MASTER_KEY,
        **database.settings(),
        "consumer_group": group,
        "consumer_session_timeout": session_timeout(kafka),
        **NO_CHURN,
    }
    return ProjectorSettings.model_validate(values | overrides)


def projector_app(engine: AsyncEngine, **overrides: Any) -> FastAPI:
    """The real app without its lifespan: the read API needs only the engine."""
    settings = ProjectorSettings.model_validate(
        {"api_keys": TEST_KEYS, "master_key": MASTER_KEY, **overrides}
    )
    app = create_app(settings)
    served(app).engine = engine
    return app


def served(app: FastAPI) -> Served:
    """What a projector app's read API serves from (its typed state)."""
    state = app.state.served
    assert isinstance(state, Served)
    return state

"""Ingest in tests: settings for chosen topics, and a private broker to freeze or kill."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any

import httpx

from basewatch_ingest.settings import Settings
from basewatch_shared.devtools.broker import EmbeddedBroker
from basewatch_shared.topics import Topics, create_topics
from tests.support.kafka import TEST_PARTITIONS
from tests.support.keys import KEYS, MASTER_KEY

# What the ``ingest_with`` fixture gives: ``async with ingest_with(**settings) as client``.
IngestFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def ingest_settings_for(
    bootstrap: str, idempotence: bool, topics: Topics, **overrides: Any
) -> Settings:
    """Ingest settings for these topics on this broker; the environment is not read."""
    # model_validate reads no environment and no .env: the test alone decides.
    values: dict[str, Any] = {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "kafka_idempotence": idempotence,
        "topic_prefix": topics.prefix,
        "api_keys": KEYS,
        "master_key": MASTER_KEY,
    }
    return Settings.model_validate(values | overrides)


@dataclass(frozen=True)
class PrivateKafka:
    """A broker of this test alone (to freeze, kill or start late) and its topic names."""

    broker: EmbeddedBroker
    topics: Topics

    async def create_topics(self) -> None:
        """Create the topics (again, after a restart emptied the broker)."""
        await create_topics(self.broker.bootstrap_servers, self.topics, TEST_PARTITIONS, 1)

    def settings(self, **overrides: Any) -> Settings:
        """Ingest settings for this broker; short timeouts keep outage tests fast."""
        fast: dict[str, Any] = {"produce_timeout": "1s", "readiness_timeout": "0.3s"}
        return ingest_settings_for(
            self.broker.bootstrap_servers, False, self.topics, **(fast | overrides)
        )

"""basewatch as a user runs it, for fault scenarios: ingest and projectors as processes."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from basewatch_shared.devtools.broker import EmbeddedBroker
from basewatch_shared.topics import Topics
from tests.support.checker import Config
from tests.support.databases import TestDatabase
from tests.support.keys import INGEST_KEY, READ_KEY
from tests.support.metrics import metric
from tests.support.processes import ServiceProcess


@dataclass
class Stack:
    """One broker's topics, one database, one consumer group; processes started on demand."""

    bootstrap: str
    idempotence: bool
    topics: Topics
    database: TestDatabase
    group: str
    partitions: int
    broker: EmbeddedBroker | None = None  # a private broker, to freeze
    patience: float = 1.0  # a soak waits longer for bigger backlogs
    processes: list[ServiceProcess] = field(default_factory=list)

    def _common(self) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "BASEWATCH_KAFKA_IDEMPOTENCE": str(self.idempotence).lower(),
            "BASEWATCH_TOPIC_PREFIX": self.topics.prefix,
        }

    async def ingest(self, **env: str) -> ServiceProcess:
        """A running ingest process."""
        proc = ServiceProcess("ingest", {**self._common(), **env})
        return await self._up(proc)

    def projector_env(self, **env: str) -> dict[str, str]:
        """A projector's environment: this database and group, sweeping twice a second."""
        return {
            **self._common(),
            **self.database.env(),
            "BASEWATCH_CONSUMER_GROUP": self.group,
            # A killed member holds its partitions until its session expires.
            "BASEWATCH_CONSUMER_SESSION_TIMEOUT": "2s",
            "BASEWATCH_SWEEP_INTERVAL": "500ms",
            **env,
        }

    async def projector(self, **env: str) -> ServiceProcess:
        """A running projector process."""
        return await self._up(ServiceProcess("projector", self.projector_env(**env)))

    async def _up(self, proc: ServiceProcess) -> ServiceProcess:
        self.processes.append(proc)
        await proc.start()
        await wait_healthy(proc)
        return proc

    def config(self, ingest: ServiceProcess, projectors: list[ServiceProcess], **kw: Any) -> Config:
        """The checker's settings for this stack (short waits: the sweep runs every second)."""
        values: dict[str, Any] = {
            "ingest": url(ingest),
            "projectors": [url(p) for p in projectors],
            "ingest_key": INGEST_KEY,
            "read_key": READ_KEY,
            "partitions": self.partitions,
            "signal_wait": 15.0,
            "quiet": 0.8,
            "lag_settle": 0.45,
            "retry_for": 60.0 * self.patience,
            "lag_timeout": 90.0 * self.patience,
        }
        return Config(**(values | kw))

    async def close(self) -> None:
        """Stop every process this stack started."""
        for proc in self.processes:
            if proc.proc is not None and proc.proc.returncode is None:
                await proc.stop(grace=5)


def url(proc: ServiceProcess) -> str:
    """The base URL of a service process."""
    return f"http://127.0.0.1:{proc.port}"


async def wait_healthy(proc: ServiceProcess, within: float = 90) -> None:
    """Poll /healthz until it answers 200; fail early if the process died. The bound is
    generous: two projectors starting at once on a machine at load 7 took over 30 s."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1) as client:
        while True:
            assert proc.proc is not None
            if proc.proc.returncode is not None:
                raise AssertionError(f"{proc.command} exited with {proc.proc.returncode}")
            try:
                if (await client.get(url(proc) + "/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{proc.command} not healthy after {within} s")
            await asyncio.sleep(0.1)


async def projector_metric(proc: ServiceProcess, name: str, **labels: str) -> float:
    """One metric of a running projector (or ingest) process."""
    async with httpx.AsyncClient(base_url=url(proc), timeout=5) as client:
        return await metric(client, name, **labels)


async def lag_records(proc: ServiceProcess) -> int | None:
    """The records a projector has not applied yet (None if it does not answer)."""
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            response = await client.get(
                url(proc) + "/v1/ops/lag", headers={"Authorization": f"Bearer {READ_KEY}"}
            )
    except httpx.TransportError:
        return None
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return int(body["lag_records"])

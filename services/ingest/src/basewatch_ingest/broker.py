"""The process's one Kafka producer: connected in the background, probed for readiness.

Ingest starts even when the broker is down: the first connection attempt is made
during start-up, and if it fails the producer is retried in the background while
/healthz answers, /readyz says 503 and POST answers 503. Once started, the producer
reconnects by itself when the broker goes away and comes back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from aiokafka import AIOKafkaProducer

from basewatch_ingest.errors import BROKER_ERRORS, BrokerUnavailable
from basewatch_ingest.metrics import Metrics
from basewatch_shared.logs import quiet

log = logging.getLogger("basewatch.ingest.broker")

READY_CACHE_S = 1.0  # /readyz may be polled often; one metadata request a second is enough
_BACKOFF_S = (0.2, 5.0)  # first and longest pause between connection attempts


def make_producer(bootstrap_servers: str, idempotence: bool) -> AIOKafkaProducer:
    """A producer that acknowledges only what every in-sync replica has (acks=all)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers,
        client_id="basewatch-ingest",
        acks="all",
        enable_idempotence=idempotence,
        # Below Kafka's default message.max.bytes (1 MiB) with room for the batch header.
        max_batch_size=512 * 1024,
        max_request_size=1024 * 1024,
        # The publisher coalesces concurrent requests itself: no extra wait here.
        linger_ms=0,
        request_timeout_ms=10_000,
        retry_backoff_ms=100,
    )


class Broker:
    """Owns the producer's lifecycle and answers "is the broker there?" cheaply."""

    def __init__(
        self,
        new_producer: Callable[[], AIOKafkaProducer],
        *,
        address: str,
        topics: Sequence[str],
        connect_timeout: float,
        probe_timeout: float,
        metrics: Metrics,
        cache_s: float = READY_CACHE_S,
    ) -> None:
        self._new_producer = new_producer
        self._servers = address  # for the logs
        self._topics = tuple(topics)
        self._connect_timeout = connect_timeout
        self._probe_timeout = probe_timeout
        self._metrics = metrics
        self._cache_s = cache_s
        self._producer: AIOKafkaProducer | None = None
        self._connecting: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[bool] | None = None
        self._ready = False
        self._reported: bool | None = None
        self._checked_at = -cache_s

    @property
    def producer(self) -> AIOKafkaProducer:
        """The started producer; BrokerUnavailable while it has not connected yet."""
        if self._producer is None:
            raise BrokerUnavailable("not connected to the broker yet")
        return self._producer

    async def start(self) -> None:
        """Try to connect once now; if that fails, keep trying in the background."""
        if not await self._connect_once():
            self._connecting = asyncio.create_task(self._connect_until_done())

    async def stop(self) -> None:
        """Stop connecting, flush what the producer holds and close it; safe twice."""
        if self._connecting is not None:
            self._connecting.cancel()
            await asyncio.gather(self._connecting, return_exceptions=True)
            self._connecting = None
        if self._probe is not None:
            await asyncio.gather(self._probe, return_exceptions=True)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            await producer.stop()  # waits until every batch handed to it is delivered or failed

    async def ready(self) -> bool:
        """Whether the broker answered a metadata request and has our topics (cached ~1 s)."""
        if time.monotonic() - self._checked_at < self._cache_s:
            return self._ready
        if self._probe is None:  # concurrent callers share one probe
            self._probe = asyncio.create_task(self._check())
        # Shielded: a caller that goes away must not cancel the probe for the others.
        return await asyncio.shield(self._probe)

    async def _check(self) -> bool:
        ready, why = False, "not connected yet"
        try:
            if self._producer is not None:
                async with asyncio.timeout(self._probe_timeout):
                    cluster = await self._producer.client.fetch_all_metadata()
                missing = [t for t in self._topics if not cluster.partitions_for_topic(t)]
                ready, why = not missing, f"topics missing: {missing}"
        except BROKER_ERRORS as exc:
            why = _why(exc)
        finally:
            if ready != self._reported:  # log the changes, not every probe of an outage
                self._reported = ready
                if ready:
                    log.info("the broker at %s is ready", self._servers)
                else:
                    log.warning("the broker at %s is not ready: %s", self._servers, why)
            self._ready, self._checked_at, self._probe = ready, time.monotonic(), None
            self._metrics.broker_ready.set(1 if ready else 0)
        return ready

    async def _connect_once(self, first: bool = True) -> bool:
        producer = self._new_producer()
        try:
            # A frozen broker accepts the connection and never answers: bound the attempt.
            # aiokafka's own lines would repeat ours at every attempt.
            with quiet("aiokafka"):
                async with asyncio.timeout(self._connect_timeout):
                    await producer.start()
        except BROKER_ERRORS as exc:
            # Said once; the attempts go on quietly until "connected to the broker".
            level = logging.WARNING if first else logging.DEBUG
            self._reported = False  # said: the readiness probe need not say it again
            log.log(
                level,
                "cannot connect to the broker at %s yet, retrying: %s",
                self._servers,
                _why(exc),
            )
            await producer.stop()
            return False
        except BaseException:
            await producer.stop()
            raise
        self._producer = producer
        self._checked_at = -self._cache_s  # the next /readyz asks the broker afresh
        log.info("connected to the broker at %s", self._servers)
        return True

    async def _connect_until_done(self) -> None:
        backoff, longest = _BACKOFF_S
        while True:
            await asyncio.sleep(backoff)
            if await self._connect_once(first=False):
                return
            backoff = min(backoff * 2, longest)


def _why(exc: BaseException) -> str:
    """The error in one line: its type, and its text if it has one."""
    name, text = type(exc).__name__, " ".join(str(exc).split())
    return text if text.startswith(name) else f"{name}: {text}" if text else name

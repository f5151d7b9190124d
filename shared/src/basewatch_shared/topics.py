"""basewatch's topic names, and creating them on a broker."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

DEFAULT_PREFIX = "basewatch."
_KINDS = ("customers", "telemetry", "signals", "deadletter", "keys")  # in contract order
_LEGAL = re.compile(r"[A-Za-z0-9._-]*")
_MAX_TOPIC_LENGTH = 249
_BACKOFF_S = (0.05, 1.0)  # first retry, longest retry
# Long enough to look at a dead letter and replay it; not for ever, since it holds
# whatever was refused (personal data included). The other topics keep the broker's.
DEADLETTER_RETENTION = timedelta(days=14)
# The keys topic is compacted: a tombstone (an erased key) removes the key from the log
# once its segment closes (segment.ms) and the tombstone itself after delete.retention.ms.
# Together about two hours on Apache Kafka (docs/erasure.md).
KEYS_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": str(3600 * 1000),
    "delete.retention.ms": str(3600 * 1000),
    "min.compaction.lag.ms": "0",
    "min.cleanable.dirty.ratio": "0.01",
}

log = logging.getLogger(__name__)


class BrokerUnavailableError(TimeoutError):
    """The broker did not answer, or not completely, within the time allowed."""


@dataclass(frozen=True)
class Topics:
    """The names of basewatch's topics under one prefix (docs/events.md)."""

    prefix: str = DEFAULT_PREFIX
    customers: str = field(init=False)  # identify and purchase, keyed by customer_id
    telemetry: str = field(init=False)  # install, heartbeat, uninstall, keyed by installation_id
    signals: str = field(init=False)  # churn signals
    deadletter: str = field(init=False)  # records the projector could not process
    keys: str = field(init=False)  # customers' data keys, wrapped, compacted (docs/erasure.md)

    def __post_init__(self) -> None:
        for kind in _KINDS:  # frozen: each name is set once, here
            object.__setattr__(self, kind, f"{self.prefix}{kind}.v1")
        # Kafka refuses such names; the embedded broker accepts them, so check here.
        longest = max(len(name) for name in self.all)
        if not _LEGAL.fullmatch(self.prefix) or longest > _MAX_TOPIC_LENGTH:
            raise ValueError(
                f"topic prefix {self.prefix!r} must be ASCII letters, digits, '.', '_' or '-', "
                f"and make names of at most {_MAX_TOPIC_LENGTH} characters"
            )

    @property
    def all(self) -> tuple[str, ...]:
        """Every topic, in contract order."""
        return (self.customers, self.telemetry, self.signals, self.deadletter, self.keys)


async def wait_for_broker(bootstrap_servers: str, timeout_s: float) -> None:
    """Return once the broker answers metadata requests; BrokerUnavailableError after timeout_s."""
    admin = await _connect(bootstrap_servers, _deadline(timeout_s))
    await admin.close()


async def create_topics(
    bootstrap_servers: str,
    topics: Topics,
    partitions: int,
    replication_factor: int,
    *,
    timeout_s: float = 30,
    deadletter_retention: timedelta = DEADLETTER_RETENTION,
) -> list[str]:
    """Create those of ``topics`` that do not exist yet and return their names.

    The dead-letter topic keeps its records for ``deadletter_retention``: they hold
    whatever was refused, personal data included, and are for a look and a replay.
    """
    deadline = _deadline(timeout_s)
    admin = await _connect(bootstrap_servers, deadline)
    retention = {"retention.ms": str(int(deadletter_retention.total_seconds() * 1000))}
    new_topics = [
        NewTopic(
            name,
            partitions,
            replication_factor,
            topic_configs={topics.deadletter: retention, topics.keys: KEYS_CONFIG}.get(name, {}),
        )
        for name in topics.all
    ]
    try:
        async with _bounded(deadline, f"creating topics on {bootstrap_servers}"):
            created = await _create(admin, new_topics, deadline)
            counts = await _until_visible(admin, topics.all)
    finally:
        await admin.close()
    if created:
        log.info("created topics %s with %d partitions", created, partitions)
    # A topic that a client's metadata request auto-created first has the broker's
    # default partition count (4 on the embedded broker), which the keys then follow.
    for name, count in counts.items():
        if count != partitions:
            log.warning("topic %s exists with %d partitions, not %d", name, count, partitions)
    return created


async def _connect(bootstrap_servers: str, deadline: float) -> AIOKafkaAdminClient:
    """A started admin client, retrying while the broker is not up yet."""
    backoff, longest = _BACKOFF_S
    error: Exception | None = None
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
        try:
            # A frozen broker accepts the connection and never answers: bound the attempt.
            async with asyncio.timeout_at(deadline):
                await admin.start()
            return admin
        except KafkaError as exc:
            await admin.close()
            if not exc.retriable:
                raise
            error = exc
        except TimeoutError as exc:
            await admin.close()
            error = error or exc  # a refused connection says more than our own deadline
        except BaseException:
            await admin.close()
            raise
        remaining = deadline - _now()
        if remaining <= 0:
            raise BrokerUnavailableError(
                f"no answer from the Kafka broker at {bootstrap_servers}: {error!r}"
            ) from error
        await asyncio.sleep(min(backoff, remaining))
        backoff = min(backoff * 2, longest)


async def _create(
    admin: AIOKafkaAdminClient, new_topics: Sequence[NewTopic], deadline: float
) -> list[str]:
    created: list[str] = []
    pending = [topic.name for topic in new_topics]
    backoff, longest = _BACKOFF_S
    while True:
        response = await admin.create_topics(
            [topic for topic in new_topics if topic.name in pending],
            timeout_ms=max(1, int((deadline - _now()) * 1000)),
        )
        pending = _created_or_retried(response.topic_errors, created)
        if not pending:
            return created
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, longest)


def _created_or_retried(answers: Sequence[tuple[Any, ...]], created: list[str]) -> list[str]:
    """Add the topics created to ``created``; those to ask for again (the error says so)."""
    retry: list[str] = []
    # CreateTopics v0 answers (topic, code), later versions (topic, code, message).
    for name, code, *rest in answers:
        if code == 0:
            created.append(name)
        elif code == TopicAlreadyExistsError.errno:
            continue
        elif for_code(code).retriable:
            retry.append(name)
        else:
            raise for_code(code)(f"creating topic {name!r}: {rest[0] if rest else code}")
    return retry


async def _until_visible(admin: AIOKafkaAdminClient, names: Sequence[str]) -> dict[str, int]:
    """Wait until metadata lists every topic with its partitions; return their counts."""
    backoff, longest = _BACKOFF_S
    while True:
        described = await admin.describe_topics(list(names))
        counts = {
            t["topic"]: len(t["partitions"])
            for t in described
            if t["error_code"] == 0 and t["partitions"]
        }
        if counts.keys() >= set(names):
            return counts
        await asyncio.sleep(backoff)
        backoff = min(backoff * 2, longest)


@asynccontextmanager
async def _bounded(deadline: float, doing: str) -> AsyncIterator[None]:
    try:
        async with asyncio.timeout_at(deadline):
            yield
    except TimeoutError as exc:
        raise BrokerUnavailableError(f"timed out {doing}") from exc


def _now() -> float:
    return asyncio.get_running_loop().time()


def _deadline(timeout_s: float) -> float:
    return _now() + timeout_s

"""Ingest's side of the keys topic: a key minted for each new customer, destroyed on erasure.

Keys come from the broker, never a database, so ingest keeps working while the
projector's database is down. A customer's key records all go to one partition of the
keys topic (by ``customer_id``), so "first on the log" is one order for every replica
(docs/erasure.md). The reader connects in the background, like the producer: until it
has read the topic, requests that need a new key are answered 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
from collections.abc import Iterable
from typing import Any, Final

from aiokafka import AIOKafkaProducer

from basewatch_ingest.broker import Broker
from basewatch_ingest.errors import BROKER_ERRORS, BrokerUnavailable
from basewatch_ingest.lanes import partition_index
from basewatch_shared.keyring.master import KEY_BYTES, Master
from basewatch_shared.keyring.reader import KeysReader
from basewatch_shared.keyring.ring import ERASED, ERASED_VALUE, KeyRing, record_key
from basewatch_shared.logs import quiet

log = logging.getLogger("basewatch.ingest.keys")

_RETRY_S: Final = (0.2, 5.0)


class Keys:
    """Mints and erases customers' data keys; ``ring`` is what sealing reads."""

    def __init__(
        self, bootstrap: str, topic: str, master: Master, broker: Broker, timeout: float
    ) -> None:
        self.ring = KeyRing(master)
        self._bootstrap, self._topic, self._master = bootstrap, topic, master
        self._broker, self._timeout = broker, timeout
        self._reader: KeysReader | None = None
        self._ready = asyncio.Event()
        self._minting: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        """Connect the reader in the background, retrying until the broker answers."""
        self._task = asyncio.create_task(self._connect())

    async def stop(self) -> None:
        """Stop reading; safe to call twice.

        A start in progress is let finish (within the timeout), not cancelled: a Kafka
        client cancelled while it connects may leave a connection open behind it.
        """
        self._stopping.set()
        if self._task is not None:
            task, self._task = self._task, None
            try:
                await asyncio.wait_for(asyncio.shield(task), self._timeout)
            except TimeoutError:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None

    async def ensure(self, customer_ids: Iterable[str]) -> None:
        """Mint a key for each customer without one; BrokerUnavailable if that fails."""
        async with self._within("minting a data key"):
            reader = await self._ready_reader()
            tasks = [self._minted(reader, customer_id) for customer_id in customer_ids]
            await asyncio.gather(*(asyncio.shield(task) for task in tasks))

    def _minted(self, reader: KeysReader, customer_id: str) -> asyncio.Task[None]:
        """The one mint of this customer's key in this process, whichever request asks."""
        task = self._minting.get(customer_id)
        if task is None:
            task = self._minting[customer_id] = asyncio.create_task(self._mint(reader, customer_id))
            task.add_done_callback(functools.partial(self._minted_done, customer_id))
        return task

    def _minted_done(self, customer_id: str, _task: asyncio.Task[None]) -> None:
        self._minting.pop(customer_id, None)

    async def erase(self, customer_id: str) -> None:
        """Destroy every key of the customer, and mark them erased, on the keys topic."""
        async with self._within("erasing the data keys"):
            reader = await self._ready_reader()
            await reader.caught_up()  # every key minted before this request is known
            producer = self._broker.producer
            kids = self.ring.kids(customer_id)
            last = await self._send(producer, reader, customer_id, ERASED, ERASED_VALUE)
            for kid in kids:
                last = await self._send(producer, reader, customer_id, kid, None)
            # This replica seals nothing more with the key once it answers; the others
            # may until they read the marker, but what they seal then opens for no one.
            await reader.read_past(*last)

    async def _mint(self, reader: KeysReader, customer_id: str) -> None:
        kid = secrets.token_hex(8)
        name = record_key(customer_id, kid)
        wrapped = self._master.wrap(os.urandom(KEY_BYTES), name)
        producer = self._broker.producer
        partition, offset = await self._send(producer, reader, customer_id, kid, wrapped)
        await reader.read_past(partition, offset)
        current = self.ring.current(customer_id)
        if current is None or current[0] != kid:  # another replica was first, or erased
            await self._send(producer, reader, customer_id, kid, None)

    async def _send(
        self,
        producer: AIOKafkaProducer,
        reader: KeysReader,
        customer_id: str,
        kid: str,
        value: bytes | None,
    ) -> tuple[int, int]:
        partition = partition_index(customer_id.encode(), reader.partitions())
        sent = await producer.send_and_wait(
            self._topic, value, key=record_key(customer_id, kid), partition=partition
        )
        return sent.partition, sent.offset

    async def _ready_reader(self) -> KeysReader:
        await self._ready.wait()
        assert self._reader is not None
        return self._reader

    @contextlib.asynccontextmanager
    async def _within(self, doing: str) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                yield
        except TimeoutError:
            raise BrokerUnavailable(f"the keys topic did not answer in time ({doing})") from None
        except BROKER_ERRORS as exc:
            raise BrokerUnavailable(f"the keys topic refused ({doing}): {exc!r}") from exc

    async def _connect(self) -> None:
        backoff, longest = _RETRY_S
        while not self._stopping.is_set():
            # The broker's own connection says once that it is down (broker.py): wait
            # for it, rather than a second client repeating that.
            if await self._broker.ready():
                reader = KeysReader(self._bootstrap, self._topic, self.ring)
                if await self._started(reader):
                    self._reader = reader
                    self._ready.set()
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff)
            backoff = min(backoff * 2, longest)

    async def _started(self, reader: KeysReader) -> bool:
        """Start ``reader``; False (and stopped) if the broker did not let it read."""
        try:
            with quiet("aiokafka"):
                await reader.start(self._timeout)
            return True
        except asyncio.CancelledError:
            await reader.stop()  # ingest stopped before the reader was ready
            raise
        except BROKER_ERRORS as exc:
            with quiet("aiokafka"):
                await reader.stop()
            log.debug("the keys topic is not readable yet", extra={"error": repr(exc)})
            return False

"""The next records, fetched and decoded; the next batch decoded while this one applies.

Python decodes and PostgreSQL commits, and before, neither did while the other worked:
the consume loop now fetches the next records before applying a batch (without waiting
for more: there is work) and decodes them in slices between the awaits of that batch's
transaction. What depends on the pending history boundary (``Holding.admit``) is still
decided after the batch and its sample. The epochs are those of the fetch: a partition
repositioned while the batch applied drops what was fetched for it (it is fetched again
from its stored offset).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, Final

from aiokafka import AIOKafkaConsumer, TopicPartition

from basewatch_projector.consume.decode import Item, KafkaRecord, decode_fetched
from basewatch_projector.consume.lag import LagTracker
from basewatch_projector.consume.rebalance import Assignment
from basewatch_shared.keyring.reader import KeysReader

# Records decoded between two awaits of the batch being applied (under a millisecond of
# CPU): a batch is a chain of statements, and each waits for the slice running when its
# answer comes (400 records, about 3 ms, were 0.89x the rate of 100 in bench.projector).
SLICE: Final = 100
# Records taken from aiokafka's buffer per call (about 5 ms of CPU).
GET_RECORDS: Final = 1000


@dataclass(frozen=True, slots=True)
class Fetched:
    """Decoded records and the epochs of their partitions at the fetch."""

    items: list[Item]
    epochs: dict[TopicPartition, int]


class Fetcher:
    """Fetches from the Kafka consumer and decodes what it fetched."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        assignment: Assignment,
        lag: LagTracker,
        *,
        max_records: int,
        keys: KeysReader | None = None,
    ) -> None:
        self._kafka, self._assignment, self._lag = consumer, assignment, lag
        self._max, self._keys = max_records, keys

    async def fetch(self, wait_ms: int, *, most: int | None = None) -> Fetched:
        """The next records (at most ``most``, else a batch's worth), waiting up to
        ``wait_ms`` for some."""
        raws, epochs = await self._poll(wait_ms, self._max if most is None else most)
        return Fetched(await _decode_in_slices(raws, self._keys), epochs)

    def nothing(self) -> Fetched:
        """No records, with the partitions' epochs now (what is held is admitted alone)."""
        return Fetched([], self._assignment.epochs())

    async def fetch_while(self, applying: Coroutine[Any, Any, None]) -> Fetched:
        """The records fetched now, decoded while ``applying`` runs (awaited here; what
        it raises propagates)."""
        raws, epochs = await self._poll(0, self._max)
        decoding = asyncio.create_task(_decode_in_slices(raws, self._keys))
        try:
            await applying
        except BaseException:
            decoding.cancel()
            raise
        return Fetched(await decoding, epochs)

    async def _poll(
        self, wait_ms: int, most: int
    ) -> tuple[list[tuple[KafkaRecord, int]], dict[TopicPartition, int]]:
        raws: list[tuple[KafkaRecord, int]] = []
        timeout_ms = wait_ms
        while len(raws) < most:
            # Taken in parts, a turn of the loop apart: aiokafka makes its record objects
            # in one go (~5 ms per thousand), and the read API waits meanwhile.
            fetched = await self._kafka.getmany(
                timeout_ms=timeout_ms, max_records=min(GET_RECORDS, most - len(raws))
            )
            # Taken before any await: the epoch of this part's fetch. A partition moved
            # between two parts has the first part's records stale (fetched again).
            epochs = self._assignment.epochs()
            raws += [(raw, epochs.get(tp, -1)) for tp, recs in fetched.items() for raw in recs]
            if not fetched:
                break
            timeout_ms = 0  # only what is buffered already
        for tp in self._kafka.assignment():
            self._lag.fetched(tp, self._kafka.highwater(tp), self._kafka.last_poll_timestamp(tp))
        return raws, epochs


async def _decode_in_slices(
    raws: Sequence[tuple[KafkaRecord, int]], keys: KeysReader | None
) -> list[Item]:
    items: list[Item] = []
    for start in range(0, len(raws), SLICE):
        if start:
            await asyncio.sleep(0)  # the batch being applied, and the read API, go on
        items += await decode_fetched(raws[start : start + SLICE], keys)
    return items

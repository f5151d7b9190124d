"""The next fetch is decoded while the batch before it is applied, and never outlives it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from basewatch_projector.consume import fetching
from basewatch_projector.consume.decode import Item
from basewatch_projector.consume.fetching import GET_RECORDS, SLICE, Fetcher

TP = TopicPartition("telemetry", 0)
RECORDS = 3 * SLICE


def record(offset: int) -> ConsumerRecord:
    return ConsumerRecord("telemetry", 0, offset, 0, 0, None, b"{}", None, 2, 2, [])


class FakeKafka:
    """A consumer that has ``records`` records of one partition to give, once, in order."""

    def __init__(self, records: int = RECORDS) -> None:
        self.records = records
        self.waits: list[int] = []
        self.given = 0
        self.between: list[Any] = []  # called after each getmany, before it returns

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        self.waits.append(timeout_ms)
        start, self.given = self.given, min(self.records, self.given + max_records)
        for call in self.between:
            call()
        return {TP: [record(o) for o in range(start, self.given)]} if self.given > start else {}

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def highwater(self, tp: TopicPartition) -> int:
        return RECORDS

    def last_poll_timestamp(self, tp: TopicPartition) -> int:
        return 0


class FakeAssignment:
    def __init__(self) -> None:
        self.epoch = 7

    def epochs(self) -> dict[TopicPartition, int]:
        return {TP: self.epoch}


class FakeLag:
    def fetched(self, tp: TopicPartition, highwater: int, at_ms: int) -> None:
        pass


def fetcher(kafka: FakeKafka, assignment: FakeAssignment | None = None) -> Fetcher:
    return Fetcher(
        kafka,
        assignment or FakeAssignment(),  # type: ignore[arg-type]
        FakeLag(),  # type: ignore[arg-type]
        max_records=kafka.records,
    )


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What happened, in order: a slice decoded, or one await of the batch being applied."""
    happened: list[str] = []

    async def decode_fetched(raws: list[tuple[Any, int]], keys: object) -> list[Item]:
        happened.append("decode")
        return [Item(raw, None, "x", epoch) for raw, epoch in raws]

    monkeypatch.setattr(fetching, "decode_fetched", decode_fetched)
    return happened


def test_the_next_fetch_is_decoded_between_the_awaits_of_the_batch_applied(
    steps: list[str],
) -> None:
    kafka = FakeKafka()

    async def applying() -> None:
        for _ in range(4):
            steps.append("db")
            await asyncio.sleep(0)  # a statement on its way to the database
        steps.append("committed")

    fetched = asyncio.run(fetcher(kafka).fetch_while(applying()))
    # There is work: the fetch does not wait for more records; it takes what is buffered
    # in parts (GET_RECORDS), each a turn of the event loop apart.
    assert kafka.waits == [0] * -(-RECORDS // GET_RECORDS)
    assert [i.raw.offset for i in fetched.items] == list(range(RECORDS))
    assert {i.epoch for i in fetched.items} == {7} and fetched.epochs == {TP: 7}
    # Each slice in a gap of the batch's transaction, none after it had to wait.
    assert steps.index("decode") < steps.index("committed")
    assert steps.count("decode") == 3 and steps[steps.index("decode") - 1] == "db"
    assert steps[-1] == "committed"


def test_a_batch_that_fails_cancels_the_decoding_and_propagates(steps: list[str]) -> None:
    async def failing() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("a bug in the batch")

    async def run() -> None:
        with pytest.raises(RuntimeError, match="a bug"):
            await fetcher(FakeKafka()).fetch_while(failing())
        await asyncio.sleep(0)
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []  # no decoding left running

    asyncio.run(run())
    assert steps.count("decode") < 3


def test_a_part_taken_before_a_move_is_stale_against_the_epochs_returned() -> None:
    kafka, assignment = FakeKafka(records=GET_RECORDS + SLICE), FakeAssignment()  # two parts
    calls = 0

    def moved_after_the_first_part() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:  # while the second part is taken: the first part's epoch is old
            assignment.epoch = 8

    kafka.between.append(moved_after_the_first_part)
    fetched = asyncio.run(fetcher(kafka, assignment).fetch(wait_ms=200))
    assert kafka.waits[0] == 200 and set(kafka.waits[1:]) == {0}  # waits only for the first
    first = [i for i in fetched.items if i.raw.offset < GET_RECORDS]
    rest = [i for i in fetched.items if i.raw.offset >= GET_RECORDS]
    assert {i.epoch for i in first} == {7} and {i.epoch for i in rest} == {8}
    assert fetched.epochs == {TP: 8}  # the first part is dropped as stale, fetched again

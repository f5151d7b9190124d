"""The consume loop's one owner of pause and resume: a partition is fetched from again
only once no reason holds it."""

from __future__ import annotations

from collections.abc import Iterable

from aiokafka import TopicPartition

from basewatch_projector.consume.pausing import Pausing, Reason

P0, P1, P2 = (TopicPartition("t", p) for p in range(3))


class FakeConsumer:
    """What aiokafka's consumer keeps of pausing: the paused set, within the assignment."""

    def __init__(self, assigned: Iterable[TopicPartition]) -> None:
        self.assigned = set(assigned)
        self.paused: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    def pause(self, *partitions: TopicPartition) -> None:
        assert set(partitions) <= self.assigned, "aiokafka refuses to pause what is not assigned"
        self.paused |= set(partitions)

    def resume(self, *partitions: TopicPartition) -> None:
        assert set(partitions) <= self.assigned, "aiokafka refuses to resume what is not assigned"
        self.paused -= set(partitions)


def test_a_partition_resumes_only_when_no_reason_holds_it() -> None:
    consumer = FakeConsumer([P0, P1, P2])
    pausing = Pausing(consumer)
    pausing.hold(Reason.HOLDING, [P1])
    pausing.hold(Reason.RETRYING, consumer.assignment())
    assert consumer.paused == {P0, P1, P2}
    pausing.release(Reason.RETRYING)  # the batch went through: P1 still waits for the sample
    assert consumer.paused == {P1}
    assert pausing.held(Reason.HOLDING) == {P1}
    pausing.release(Reason.HOLDING, [P1])
    assert consumer.paused == set()


def test_releasing_a_reason_that_does_not_hold_a_partition_resumes_nothing() -> None:
    consumer = FakeConsumer([P0, P1])
    pausing = Pausing(consumer)
    pausing.hold(Reason.ASSIGNING, [P0])
    pausing.release(Reason.HOLDING, [P0])
    pausing.release(Reason.RETRYING)
    assert consumer.paused == {P0}


def test_only_assigned_partitions_are_paused_and_revoked_ones_are_forgotten() -> None:
    consumer = FakeConsumer([P0, P1])
    pausing = Pausing(consumer)
    pausing.hold(Reason.HOLDING, [P1, P2])  # P2 went to another member meanwhile
    assert consumer.paused == {P1}
    consumer.assigned = {P0}
    consumer.paused.discard(P1)  # aiokafka drops the revoked partition's state
    pausing.forget([P1])
    pausing.release(Reason.HOLDING)  # P1 is not resumed: it is not ours any more
    assert pausing.held(Reason.HOLDING) == set()

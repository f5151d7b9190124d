"""The only caller of the Kafka consumer's ``pause`` and ``resume``.

Three parts of the consume loop stop a partition for reasons of their own: a partition
being positioned at its stored offset after an assignment, a partition whose records
are held at the pending history boundary, and every partition while a failed batch
waits to be retried. Each holds partitions for its reason and releases them; a
partition is fetched from again only once no reason holds it. (Before, the loop and the
history recorder each paused and resumed the consumer and reconciled the two by hand.)
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

from aiokafka import AIOKafkaConsumer, TopicPartition


class Reason(Enum):
    """Why a partition is paused."""

    ASSIGNING = "positioning a newly assigned partition at its stored offset"
    HOLDING = "its next records wait for the pending history boundary"
    RETRYING = "a batch failed on an outage and waits to be retried"


class Pausing:
    """Pauses a partition while any reason holds it; resumes it when none does."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._consumer = consumer
        self._reasons: dict[TopicPartition, set[Reason]] = {}

    def hold(self, reason: Reason, partitions: Iterable[TopicPartition]) -> None:
        """Pause ``partitions`` (those assigned) for ``reason``."""
        assigned = self._consumer.assignment()
        wanted = [tp for tp in partitions if tp in assigned]
        for tp in wanted:
            self._reasons.setdefault(tp, set()).add(reason)
        if wanted:
            self._consumer.pause(*wanted)

    def release(self, reason: Reason, partitions: Iterable[TopicPartition] | None = None) -> None:
        """Drop ``reason`` from ``partitions`` (None: every partition it holds); resume
        those no other reason holds."""
        chosen = self.held(reason) if partitions is None else set(partitions)
        free = []
        for tp in chosen:
            reasons = self._reasons.get(tp)
            if reasons is None or reason not in reasons:
                continue
            reasons.discard(reason)
            if not reasons:
                del self._reasons[tp]
                free.append(tp)
        assigned = self._consumer.assignment()
        if resumable := [tp for tp in free if tp in assigned]:
            self._consumer.resume(*resumable)

    def held(self, reason: Reason) -> set[TopicPartition]:
        """The partitions ``reason`` holds."""
        return {tp for tp, reasons in self._reasons.items() if reason in reasons}

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions revoked: whoever gets them next starts them unpaused."""
        for tp in partitions:
            self._reasons.pop(tp, None)

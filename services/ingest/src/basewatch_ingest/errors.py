"""Errors of the ingest service, and the one answer to "may a later try succeed?".

The HTTP edge turns ingest's own errors into problem+json.
"""

from __future__ import annotations

from typing import Final

from aiokafka.errors import KafkaError, KafkaTimeoutError, ProducerClosed

# What talking to the broker may raise: aiokafka's errors, sockets, our own deadlines.
BROKER_ERRORS: Final = (KafkaError, OSError, TimeoutError)
# aiokafka flags these not retriable, yet a later try gets past them: its own timeouts
# (an unanswered broker, like a socket error) and a producer closed under a request
# (this ingest is stopping; the client's retry reaches another, or this one restarted).
_TRANSIENT_UNFLAGGED: Final = (KafkaTimeoutError, ProducerClosed)


class IngestError(Exception):
    """Base of every error ingest raises on purpose."""


class BrokerUnavailable(IngestError):
    """The broker did not acknowledge in time: nothing may be answered 202."""


class RateLimited(IngestError):
    """A key sent more events than its rate limit allows; retry after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded; retry in {retry_after} s")
        self.retry_after = retry_after


def transient(exc: BaseException) -> bool:
    """Whether a later try may succeed: the broker is out of reach, slow or busy.

    aiokafka says so on its errors (``retriable``). Anything else it raises (an
    authorization, a version, a record the broker refuses) is a fault that retrying
    does not mend.
    """
    if isinstance(exc, KafkaError):
        return exc.retriable or isinstance(exc, _TRANSIENT_UNFLAGGED)
    return isinstance(exc, OSError | TimeoutError)

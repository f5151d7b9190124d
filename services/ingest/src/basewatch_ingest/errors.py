"""Errors of the ingest service, and what talking to the broker may raise.

The HTTP edge turns ingest's own errors into problem+json.
"""

from __future__ import annotations

from typing import Final

from aiokafka.errors import KafkaError

# What talking to the broker may raise: aiokafka's errors, sockets, our own deadlines.
# Ingest asks them one question, "did the broker keep the events?", and each answers
# no: the connection is retried, readiness is false, a request gets a 503 that its
# client retries with the same event ids (counted once). aiokafka's ``retriable`` says
# whether the *producer* may resend at once; it is not ingest's question. An embedded
# broker restarted empty answered a produce with UnknownError (not retriable) that a
# client's retry a moment later got through (test_killed_broker_gives_503s_until_...).
BROKER_ERRORS: Final = (KafkaError, OSError, TimeoutError)


class IngestError(Exception):
    """Base of every error ingest raises on purpose."""


class BrokerUnavailable(IngestError):
    """The broker did not acknowledge in time: nothing may be answered 202."""


class RateLimited(IngestError):
    """A key sent more events than its rate limit allows; retry after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded; retry in {retry_after} s")
        self.retry_after = retry_after

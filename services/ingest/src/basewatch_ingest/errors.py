"""Errors of the ingest service; the HTTP edge turns them into problem+json."""

from __future__ import annotations


class IngestError(Exception):
    """Base of every error ingest raises on purpose."""


class BrokerUnavailable(IngestError):
    """The broker did not acknowledge in time: nothing may be answered 202."""


class RateLimited(IngestError):
    """A key sent more events than its rate limit allows; retry after ``retry_after`` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded; retry in {retry_after} s")
        self.retry_after = retry_after

"""A database outage seen by the read API: 503 with Retry-After, not a 500.

The consumer retries the same errors (``consumer.INFRASTRUCTURE``); a reader should be
told to retry too, and the outage must not be logged as a bug with a traceback per
request. Errors in a statement itself (a programming error, bad data) stay a 500.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from basewatch_shared.problems import ProblemError

RETRY_AFTER_S = 1
DATABASE_ERRORS = (DBAPIError, PoolTimeout, OSError)  # and their subclasses


def database_unavailable(exc: Exception) -> ProblemError | None:
    """503 for a database that is down, unreachable or dropped the connection; else None."""
    lost = isinstance(exc, OSError | PoolTimeout) or (
        isinstance(exc, DBAPIError)
        and (
            exc.connection_invalidated
            or type(exc) is DBAPIError  # a driver error SQLAlchemy could not classify
            or isinstance(exc, OperationalError | InterfaceError)
        )
    )
    if not lost:
        return None
    return ProblemError(
        503,
        "Database unavailable",
        "the database did not answer; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )

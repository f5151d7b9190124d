"""Which errors are an outage, worth retrying, and which are a bug: the one classification.

The consume loop retries a batch, the history recorder and the churn sweep their next
tick, the outbox its publishing, and the read API answers 503 with Retry-After, all for
the errors ``transient`` says yes to. Everything else is a bug or bad data: retrying it
forever would hide it, so it propagates (the projector logs its traceback and exits
non-zero; a read answers 500).

- The database: a connection refused, dropped or timed out (``OSError``), the pool
  out of connections (``sqlalchemy.exc.TimeoutError``), a connection SQLAlchemy
  invalidated, or a driver error of the operational or interface kind (or one
  SQLAlchemy could not classify: asyncpg's server errors outside its table, such as an
  administrator shutdown). Never a ``ProgrammingError``, an integrity or data error, nor
  SQLite's generic SQL error (``no such table``, a syntax error), which SQLite reports
  as an operational error.
- Kafka: what aiokafka marks ``retriable`` (it puts the flag on the error class), plus
  its timeouts: aiokafka does not mark ``KafkaTimeoutError`` because it cannot retry it
  itself, but a broker that did not answer in time is an outage to us.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from aiokafka.errors import KafkaError, KafkaTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# The types ``transient`` may say yes to, for ``except`` clauses; it decides on the instance.
DATABASE_ERRORS: Final = (DBAPIError, PoolTimeout, OSError)
MAYBE_TRANSIENT: Final = (*DATABASE_ERRORS, KafkaError)
_SQLITE_ERROR: Final = 1  # the primary code of a statement SQLite refuses: not an outage


def transient(exc: BaseException) -> bool:
    """True for an outage of the database or the broker: retry (or answer 503)."""
    if isinstance(exc, KafkaError):
        return bool(exc.retriable) or isinstance(exc, KafkaTimeoutError)
    if isinstance(exc, PoolTimeout | OSError):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated or type(exc) is DBAPIError:
        return True
    if isinstance(exc.orig, sqlite3.Error) and exc.orig.sqlite_errorcode & 0xFF == _SQLITE_ERROR:
        return False
    return isinstance(exc, OperationalError | InterfaceError)

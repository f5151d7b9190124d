"""The one classification of errors: an outage is retried (or a 503), a bug is not."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest
from aiokafka.errors import (
    IllegalStateError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NotLeaderForPartitionError,
    RecordTooLargeError,
    RequestTimedOutError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient


def sqlite_error(sql: str) -> sqlite3.Error:
    """The error SQLite itself raises for ``sql``."""
    with sqlite3.connect(":memory:") as conn:
        try:
            conn.execute(sql)
        except sqlite3.Error as exc:
            return exc
    raise AssertionError(f"{sql!r} did not fail")


def locked() -> sqlite3.OperationalError:
    """SQLite's 'database is locked' (SQLITE_BUSY), as a second writer meets it."""
    exc = sqlite3.OperationalError("database is locked")
    exc.sqlite_errorcode = 5
    exc.sqlite_errorname = "SQLITE_BUSY"
    return exc


OUTAGES = [
    pytest.param(ConnectionRefusedError(111, "Connect call failed"), id="refused"),
    pytest.param(TimeoutError(), id="timeout"),
    pytest.param(PoolTimeout("QueuePool limit of size 1 overflow 0 reached"), id="pool-timeout"),
    pytest.param(OperationalError("SELECT 1", None, Exception("server closed")), id="operational"),
    pytest.param(InterfaceError("SELECT 1", None, Exception("connection is closed")), id="iface"),
    # asyncpg's server errors outside SQLAlchemy's table (an administrator shutdown, too
    # many connections) arrive as a bare DBAPIError.
    pytest.param(DBAPIError("SELECT 1", None, Exception("terminating connection")), id="bare"),
    pytest.param(OperationalError("INSERT", None, locked()), id="sqlite-busy"),
    pytest.param(KafkaConnectionError("Unable to bootstrap"), id="kafka-connection"),
    pytest.param(NotLeaderForPartitionError(), id="kafka-not-leader"),
    pytest.param(RequestTimedOutError(), id="kafka-request-timed-out"),
    pytest.param(UnknownTopicOrPartitionError(), id="kafka-unknown-topic"),
    # Not marked retriable by aiokafka, which cannot retry it itself; an outage to us.
    pytest.param(KafkaTimeoutError(), id="kafka-timeout"),
]

BUGS = [
    pytest.param(ProgrammingError("SELECT nope", None, Exception("syntax")), id="programming"),
    pytest.param(
        ProgrammingError("SELECT", None, asyncpg.exceptions.UndefinedTableError("no table")),
        id="undefined-table",
    ),
    pytest.param(IntegrityError("INSERT", None, Exception("duplicate key")), id="integrity"),
    pytest.param(DataError("INSERT", None, Exception("out of range")), id="data"),
    # SQLite reports a missing table or a syntax error as an OperationalError.
    pytest.param(
        OperationalError("SELECT", None, sqlite_error("SELECT * FROM nowhere")), id="sqlite-table"
    ),
    pytest.param(OperationalError("SELEC", None, sqlite_error("SELEC 1")), id="sqlite-syntax"),
    # Arithmetic is a bug or bad data, never an outage: a sum past 64 bits on SQLite, a
    # value out of range or a division by zero on PostgreSQL.
    pytest.param(
        OperationalError(
            "SELECT",
            None,
            sqlite_error(f"SELECT sum(x) FROM (SELECT {2**63 - 1} AS x UNION ALL SELECT 1)"),
        ),
        id="sqlite-integer-overflow",
    ),
    pytest.param(
        DataError("SELECT", None, asyncpg.exceptions.NumericValueOutOfRangeError("out of range")),
        id="pg-out-of-range",
    ),
    pytest.param(
        DataError("SELECT", None, asyncpg.exceptions.DivisionByZeroError("division by zero")),
        id="pg-division-by-zero",
    ),
    pytest.param(RecordTooLargeError(), id="kafka-record-too-large"),
    pytest.param(TopicAuthorizationFailedError(), id="kafka-not-authorized"),
    pytest.param(IllegalStateError("no assignment"), id="kafka-illegal-state"),
    pytest.param(TypeError("not a telemetry event"), id="type-error"),
    pytest.param(KeyError("kind"), id="key-error"),
]


@pytest.mark.parametrize("exc", OUTAGES)
def test_an_outage_of_the_database_or_the_broker_is_transient(exc: Exception) -> None:
    assert transient(exc)
    assert isinstance(exc, MAYBE_TRANSIENT)  # every except clause that asks sees it


@pytest.mark.parametrize("exc", BUGS)
def test_a_bug_or_bad_data_is_never_transient(exc: Exception) -> None:
    assert not transient(exc)


def test_a_connection_sqlalchemy_invalidated_is_transient_whatever_the_error() -> None:
    lost = ProgrammingError("SELECT 1", None, Exception("connection reset"))
    lost.connection_invalidated = True
    assert transient(lost)


def test_kafka_errors_are_judged_by_aiokafkas_retriable_flag() -> None:
    assert NotLeaderForPartitionError.retriable and transient(NotLeaderForPartitionError())
    assert not RecordTooLargeError.retriable and not transient(RecordTooLargeError())

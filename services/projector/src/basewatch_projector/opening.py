"""Opening the database at start, for the service and the operator's commands alike:
what is wrong or down becomes ``CannotStart``, one line that names it (password hidden).

Kept apart from ``bootstrap`` so that a command that only needs the database
(``basewatch churn release``) imports neither Kafka nor alembic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from basewatch_projector.errors import CannotStart
from basewatch_projector.settings import Settings
from basewatch_projector.storage.engine import create_engine, normalize_url
from basewatch_projector.storage.transient import MAYBE_TRANSIENT, transient


def open_engine(settings: Settings, *, pre_ping: bool = True) -> tuple[AsyncEngine, str]:
    """The settings' engine (the caller disposes it) and where it points, password hidden."""
    try:
        engine = create_engine(
            settings.database_url, schema=settings.database_schema, pre_ping=pre_ping
        )
    except ValueError as exc:  # a URL of another kind of database
        raise CannotStart(str(exc)) from None
    return engine, normalize_url(settings.database_url).render_as_string(hide_password=True)


@contextmanager
def reaching_database(where: str) -> Iterator[None]:
    """An outage inside the block becomes CannotStart, in one line; a bug stays a bug."""
    try:
        yield
    except MAYBE_TRANSIENT as exc:
        if not transient(exc):
            raise
        raise CannotStart(f"cannot reach the database at {where}: {why(exc)}") from None


def why(exc: BaseException) -> str:
    """The error in one line: the driver's own error rather than SQLAlchemy's wrapping."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    name, text = type(cause).__name__, str(cause)
    return " ".join((text if text.startswith(name) else f"{name}: {text}").split())

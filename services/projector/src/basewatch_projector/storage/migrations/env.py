"""Alembic environment: always handed a connection by basewatch_projector.storage.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from basewatch_projector.storage.tables import metadata

connection: Connection | None = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `basewatch migrate`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things; batch mode copies the table instead.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

"""The bases over time: sampled series, the sampling progress, signals by time.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from basewatch_projector.storage.columns import Json, UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create history and history_progress; index signals by occurred_at."""
    op.create_table(
        "history",
        sa.Column("metric", sa.String(16), nullable=False),
        sa.Column("labels", Json, nullable=False),
        sa.Column("bucket", UtcDateTime, nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("metric", "labels", "bucket", name="pk_history"),
    )
    op.create_index("ix_history_metric_bucket", "history", ["metric", "bucket"])
    op.create_table(
        "history_progress",
        sa.Column("id", sa.Integer),
        sa.Column("first_bucket", UtcDateTime, nullable=False),
        sa.Column("settled_through", UtcDateTime, nullable=False),
        sa.Column("latest", Json, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_history_progress"),
    )
    op.create_index("ix_signals_occurred_at_kind", "signals", ["occurred_at", "kind"])


def downgrade() -> None:
    """Drop what 0003 added."""
    op.drop_index("ix_signals_occurred_at_kind", table_name="signals")
    op.drop_table("history_progress")
    op.drop_table("history")

"""Churn signals: silence tracking on installations, the signals feed and outbox, holds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from basewatch_projector.storage.columns import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.String(128)


def upgrade() -> None:
    """Add silent_since and partition to installations; create signals and churn_control."""
    with op.batch_alter_table("installations") as batch:
        batch.add_column(sa.Column("silent_since", UtcDateTime))
        batch.add_column(sa.Column("partition", sa.Integer))
        batch.create_index(
            "ix_installations_partition_status_silent_since",
            ["partition", "status", "silent_since"],
        )
    op.create_table(
        "signals",
        sa.Column(
            "signal_id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("installation_id", Id),
        sa.Column("customer_id", Id),
        sa.Column("product_id", Id),
        sa.Column("previous_status", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("detected_at", UtcDateTime, nullable=False),
        sa.Column("silent_since", UtcDateTime),
        sa.Column("published_at", UtcDateTime),
        sa.PrimaryKeyConstraint("signal_id", name="pk_signals"),
    )
    op.create_index("ix_signals_kind_signal_id", "signals", ["kind", "signal_id"])
    op.create_index("ix_signals_published_at_signal_id", "signals", ["published_at", "signal_id"])
    op.create_table(
        "churn_control",
        sa.Column("id", sa.Integer),
        sa.Column("hold_released_until", UtcDateTime),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_churn_control"),
    )


def downgrade() -> None:
    """Drop what 0002 added."""
    op.drop_table("churn_control")
    op.drop_table("signals")
    with op.batch_alter_table("installations") as batch:
        batch.drop_index("ix_installations_partition_status_silent_since")
        batch.drop_column("partition")
        batch.drop_column("silent_since")

"""Erasure in the tables (docs/erasure.md): the customers' erased_at, and the requests.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from basewatch_projector.storage.columns import UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add customers.erased_at and the erasures table."""
    with op.batch_alter_table("customers") as batch:
        batch.add_column(sa.Column("erased_at", UtcDateTime))
    op.create_table(
        "erasures",
        sa.Column(
            "position", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True
        ),
        sa.Column("erasure_id", sa.String(128), nullable=False),
        sa.Column("customer_id", sa.String(128), nullable=False),
        sa.Column("requested_at", UtcDateTime, nullable=False),
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("applied_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("position", name="pk_erasures"),
        sa.UniqueConstraint("erasure_id", name="uq_erasures_erasure_id"),
    )


def downgrade() -> None:
    """Drop what 0006 added."""
    op.drop_table("erasures")
    with op.batch_alter_table("customers") as batch:
        batch.drop_column("erased_at")

"""Movements of the bases: counted moves per history boundary, and those still pending.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from basewatch_projector.storage.columns import UtcDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create movements and movements_pending."""
    op.create_table(
        "movements",
        sa.Column("base", sa.String(16), nullable=False),
        sa.Column("bucket", UtcDateTime, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("base", "bucket", "kind", "product_id", name="pk_movements"),
    )
    op.create_table(
        "movements_pending",
        sa.Column("base", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("value", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("base", "kind", "product_id", name="pk_movements_pending"),
    )


def downgrade() -> None:
    """Drop what 0005 added."""
    op.drop_table("movements_pending")
    op.drop_table("movements")

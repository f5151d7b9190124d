"""Heartbeat updates that PostgreSQL can make HOT (heap-only, no index entries).

Every heartbeat moves ``silent_since``; while an index held it, each heartbeat wrote a
new entry into every index of ``installations``. The sweep's index becomes (partition,
status): it still finds the installations in use of the partitions an instance owns,
and reads silent_since from the rows. Fill factor 80 leaves room on each page for the
new row versions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Index installations by (partition, status) without silent_since; fill factor 80."""
    with op.batch_alter_table("installations") as batch:
        batch.drop_index("ix_installations_partition_status_silent_since")
        batch.create_index("ix_installations_partition_status", ["partition", "status"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE installations SET (fillfactor = 80)")


def downgrade() -> None:
    """Back to 0003's index and the default fill factor."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE installations RESET (fillfactor)")
    with op.batch_alter_table("installations") as batch:
        batch.drop_index("ix_installations_partition_status")
        batch.create_index(
            "ix_installations_partition_status_silent_since",
            ["partition", "status", "silent_since"],
        )

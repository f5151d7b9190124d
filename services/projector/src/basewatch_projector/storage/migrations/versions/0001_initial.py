"""The live tables: customers, the purchase ledger, installations, consumer offsets.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from basewatch_projector.storage.columns import Json, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.String(128)


def upgrade() -> None:
    """Create the tables of docs/tables.md and the offsets table."""
    op.create_table(
        "customers",
        sa.Column("customer_id", Id, primary_key=True),
        sa.Column("traits", Json, nullable=False),
        sa.Column("trait_times", Json, nullable=False),
        sa.Column("country", sa.String(2)),
        sa.Column("first_purchase_at", UtcDateTime),
        sa.Column("last_purchase_at", UtcDateTime),
        sa.Column("orders", sa.Integer, nullable=False),
        sa.Column("installations_in_use", sa.Integer, nullable=False),
        sa.Column("segment", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customers"),
    )
    op.create_index("ix_customers_segment_customer_id", "customers", ["segment", "customer_id"])
    op.create_index(
        "ix_customers_segment_status_installations_in_use",
        "customers",
        ["segment", "status", "installations_in_use"],
    )
    op.create_index("ix_customers_status_customer_id", "customers", ["status", "customer_id"])
    op.create_index("ix_customers_country_customer_id", "customers", ["country", "customer_id"])

    op.create_table(
        "purchases",
        sa.Column("event_id", Id),
        sa.Column("customer_id", Id, nullable=False),
        sa.Column("order_id", Id, nullable=False),
        sa.Column("product_id", Id, nullable=False),
        sa.Column("amount_micros", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        sa.Column("received_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("event_id", name="pk_purchases"),
    )
    op.create_index("ix_purchases_customer_id_currency", "purchases", ["customer_id", "currency"])
    op.create_index(
        "ix_purchases_product_id_customer_id_order_id",
        "purchases",
        ["product_id", "customer_id", "order_id"],
    )

    op.create_table(
        "installations",
        sa.Column("installation_id", Id),
        sa.Column("customer_id", Id),
        sa.Column("product_id", Id),
        sa.Column("version", Id),
        sa.Column("platform", sa.String(64)),
        sa.Column("installed_at", UtcDateTime),
        sa.Column("last_heartbeat_at", UtcDateTime),
        sa.Column("usage", Json),
        sa.Column("uninstalled_at", UtcDateTime),
        sa.Column("attr_times", Json, nullable=False),
        sa.Column("usage_at", UtcDateTime),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_changed_at", UtcDateTime, nullable=False),
        sa.Column("first_seen_at", UtcDateTime, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("installation_id", name="pk_installations"),
    )
    op.create_index(
        "ix_installations_customer_id_status", "installations", ["customer_id", "status"]
    )
    op.create_index(
        "ix_installations_product_id_version_status",
        "installations",
        ["product_id", "version", "status"],
    )
    op.create_index(
        "ix_installations_status_installation_id", "installations", ["status", "installation_id"]
    )

    op.create_table(
        "consumer_offsets",
        sa.Column("group_id", sa.String(255), nullable=False),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("next_offset", sa.BigInteger, nullable=False),
        sa.Column("updated_at", UtcDateTime, nullable=False),
        sa.PrimaryKeyConstraint("group_id", "topic", "partition", name="pk_consumer_offsets"),
    )


def downgrade() -> None:
    """Drop everything 0001 created."""
    for table in ("consumer_offsets", "installations", "purchases", "customers"):
        op.drop_table(table)

"""The read API's running totals, per-sample cells and kept counts
(docs/tables.md#sales-and-cohorts), in the one ``metadata`` of ``tables.py``, which lists
them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, PrimaryKeyConstraint, String, Table

from basewatch_projector.storage.columns import Id, Json, UtcDateTime, metadata

# Per base and scope (every product, or one), the moves per kind summed through each
# boundary with moves; a step's moves are the difference of two rows (history/movements.py).
movement_totals = Table(
    "movement_totals",
    metadata,
    Column("base", String(16), nullable=False),
    Column("every", Boolean, nullable=False),
    Column("product_id", Id, nullable=False),
    Column("bucket", UtcDateTime, nullable=False),
    Column("kinds", Json, nullable=False),  # {kind: moves through bucket}
    PrimaryKeyConstraint("base", "every", "product_id", "bucket"),
)

# GET /v1/sales: deltas by occurred_at, pending until the next sample sums them into
# sales_totals per product through each history boundary (history/sales.py).
sales_pending = Table(
    "sales_pending",
    metadata,
    Column("product_id", Id, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    *(Column(name, BigInteger, nullable=False) for name in ("units", "orders", "lines")),
    *(Column(name, BigInteger, nullable=False) for name in ("high", "low")),
    PrimaryKeyConstraint("product_id", "currency", "occurred_at"),
)
sales_totals = Table(
    "sales_totals",
    metadata,
    *(Column("product_id", Id, nullable=False), Column("bucket", UtcDateTime, nullable=False)),
    Column("sums", Json, nullable=False),  # {"units", "orders", "revenue": {cur: [h, l, n]}}
    PrimaryKeyConstraint("product_id", "bucket"),
)

# GET /v1/cohorts: per cohort (the period it started in) and period since, the counts at
# the last history sample in that period: size, in use (or active), bought again.
cohort_cells = Table(
    "cohort_cells",
    metadata,
    *(Column(name, String(16), nullable=False) for name in ("base", "period")),
    Column("every", Boolean, nullable=False),
    Column("product_id", Id, nullable=False),
    *(Column(name, String(10), nullable=False) for name in ("cohort", "at")),  # YYYY-MM-DD
    *(Column(name, BigInteger, nullable=False) for name in ("size", "value", "again")),
    PrimaryKeyConstraint("base", "period", "every", "product_id", "cohort", "at"),
)

# The sizes of the two bases, kept by the database (triggers of migration 0008) in the
# transaction that changes a customer or an installation: each row is a delta, the sum
# per key is the count (storage/counts.py). Customers: label the segment, used their
# installations in use; installations: label the product, used those in use without
# an owner.
base_counts = Table(
    "base_counts",
    metadata,
    Column("base", String(16), nullable=False),
    Column("label", Id),
    Column("version", Id),
    Column("status", String(16), nullable=False),
    *(Column(name, BigInteger, nullable=False) for name in ("n", "used")),
)

"""Running totals for GET /v1/movements and /v1/sales, the installed base as one
series, and cohorts per sample: ``movement_totals``, ``sales_pending``,
``sales_totals``, history ``in_use``, ``cohort_cells`` (filled by the samples from
now on: the periods before have no cells).

Filled from what is there: the ``in_use`` series from the installations' samples (active
plus at_risk, per product and in all, a row where it changes), the running totals from
``movements``, and the whole purchase ledger as pending sales (the next history sample
sums them at its interval's boundaries).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from basewatch_projector.projection.sales import FIELDS, sale_deltas
from basewatch_projector.storage.columns import Json, UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_IN_USE = ("active", "at_risk")
_CHUNK = 1000


def upgrade() -> None:
    """Create the tables and fill them."""
    op.create_table(
        "movement_totals",
        sa.Column("base", sa.String(16), nullable=False),
        sa.Column("every", sa.Boolean, nullable=False),
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("bucket", UtcDateTime, nullable=False),
        sa.Column("kinds", Json, nullable=False),
        sa.PrimaryKeyConstraint("base", "every", "product_id", "bucket", name="pk_movement_totals"),
    )
    pending = op.create_table(
        "sales_pending",
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("occurred_at", UtcDateTime, nullable=False),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in FIELDS),
        sa.PrimaryKeyConstraint("product_id", "currency", "occurred_at", name="pk_sales_pending"),
    )
    op.create_table(
        "sales_totals",
        sa.Column("product_id", sa.String(128), nullable=False),
        sa.Column("bucket", UtcDateTime, nullable=False),
        sa.Column("sums", Json, nullable=False),
        sa.PrimaryKeyConstraint("product_id", "bucket", name="pk_sales_totals"),
    )
    op.create_table(
        "cohort_cells",
        *(sa.Column(name, sa.String(16), nullable=False) for name in ("base", "period")),
        sa.Column("every", sa.Boolean, nullable=False),
        sa.Column("product_id", sa.String(128), nullable=False),
        *(sa.Column(name, sa.String(10), nullable=False) for name in ("cohort", "at")),
        *(sa.Column(name, sa.BigInteger, nullable=False) for name in ("size", "value", "again")),
        sa.PrimaryKeyConstraint(
            "base", "period", "every", "product_id", "cohort", "at", name="pk_cohort_cells"
        ),
    )
    conn = op.get_bind()
    _fill_in_use(conn)
    _fill_movement_totals(conn)
    purchases = sa.table(
        "purchases",
        *(sa.column(n) for n in ("event_id", "customer_id", "order_id", "product_id")),
        *(sa.column(n) for n in ("amount_micros", "currency", "quantity")),
        sa.column("occurred_at", UtcDateTime),
    )
    ledger = [dict(row._mapping) for row in conn.execute(sa.select(purchases))]
    rows = [
        {"product_id": product, "currency": currency, "occurred_at": at}
        | {name: delta[name] for name in FIELDS}
        for (product, currency, at), delta in sale_deltas(ledger, {}).items()
    ]
    _insert(conn, pending, rows)


def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        conn.execute(table.insert(), rows[start : start + _CHUNK])


def _fill_in_use(conn: Any) -> None:
    """The installed base per product and in all, from the installations' samples."""
    history = sa.table(
        "history",
        sa.column("metric"),
        sa.column("labels", Json),
        sa.column("bucket", UtcDateTime),
        sa.column("value"),
    )
    h = history.c
    query = sa.select(h.labels, h.bucket, h.value).where(h.metric == "installations")
    current: dict[tuple[Any, str], int] = {}
    by_bucket: dict[Any, list[tuple[Any, str, int]]] = defaultdict(list)
    for labels, bucket, value in conn.execute(query.order_by(h.bucket)):
        by_bucket[bucket].append((labels.get("product_id"), labels["status"], int(value)))
    written: dict[Any, int] = {}
    rows = []
    for bucket in sorted(by_bucket):
        for product, status, value in by_bucket[bucket]:
            current[product, status] = value
        in_use: Counter[Any] = Counter()
        for (product, status), value in current.items():
            if status in _IN_USE:
                in_use[product] += value
                in_use[()] += value
        for key in written.keys() | in_use.keys():
            if in_use[key] != written.get(key, 0) or key not in written:
                labels = {} if key == () else {"product_id": key}
                rows.append(
                    {"metric": "in_use", "labels": labels, "bucket": bucket, "value": in_use[key]}
                )
                written[key] = in_use[key]
    _insert(conn, history, rows)


def _fill_movement_totals(conn: Any) -> None:
    """Running totals per scope from the movements settled so far."""
    movements = sa.table(
        "movements", *(sa.column(n) for n in ("base", "kind", "product_id", "value")),
        sa.column("bucket", UtcDateTime),
    )  # fmt: skip
    totals = sa.table(
        "movement_totals", *(sa.column(n) for n in ("base", "every", "product_id")),
        sa.column("bucket", UtcDateTime), sa.column("kinds", Json),
    )  # fmt: skip
    m = movements.c
    query = sa.select(m.base, m.kind, m.product_id, m.value, m.bucket).order_by(m.bucket)
    running: dict[tuple[str, bool, str], Counter[str]] = defaultdict(Counter)
    touched: dict[Any, set[tuple[str, bool, str]]] = defaultdict(set)
    rows = []
    by_bucket: dict[Any, list[Any]] = defaultdict(list)
    for row in conn.execute(query):
        by_bucket[row.bucket].append(row)
    for bucket in sorted(by_bucket):
        for base, kind, product, value, _ in by_bucket[bucket]:
            scopes = [(base, True, "")] + (
                [(base, False, product)] if base == "installations" else []
            )
            for scope in scopes:
                running[scope][kind] += int(value)
                touched[bucket].add(scope)
        for base, every, product in sorted(touched[bucket]):
            kinds = dict(running[base, every, product])
            rows.append(
                {
                    "base": base,
                    "every": every,
                    "product_id": product,
                    "bucket": bucket,
                    "kinds": kinds,
                }
            )
    _insert(conn, totals, rows)


def downgrade() -> None:
    """Drop what 0007 added."""
    op.execute("DELETE FROM history WHERE metric = 'in_use'")
    op.drop_table("cohort_cells")
    op.drop_table("sales_totals")
    op.drop_table("sales_pending")
    op.drop_table("movement_totals")

"""The projector's tables (docs/tables.md), as SQLAlchemy Core.

Core rather than the ORM: the projector writes set-based multi-row upserts, and the
read API selects plain rows. Money is integer micro-units (exact on both SQLite and
PostgreSQL); timestamps are UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
)

from basewatch_projector.storage.columns import Id, Json, UtcDateTime, metadata
from basewatch_projector.storage.rollups import (
    base_counts,
    cohort_cells,
    movement_totals,
    sales_pending,
    sales_totals,
)

__all__ = [
    "base_counts",
    "cohort_cells",
    "metadata",
    "movement_totals",
    "sales_pending",
    "sales_totals",
]

customers = Table(
    "customers",
    metadata,
    Column("customer_id", Id, primary_key=True),
    # Merged traits; trait_times holds, per trait, the occurred_at of the identify that
    # set it, so a late identify never overwrites a newer value (order-independent).
    Column("traits", Json, nullable=False, default=dict),
    Column("trait_times", Json, nullable=False, default=dict),
    Column("country", String(2)),
    Column("first_purchase_at", UtcDateTime),
    Column("last_purchase_at", UtcDateTime),
    Column("orders", Integer, nullable=False, default=0),
    # Kept with the status: the summary counts unpaid installations in use without a join.
    Column("installations_in_use", Integer, nullable=False, default=0),
    Column("segment", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    # Set by the customer's first erasure (docs/erasure.md): from then on the row is a
    # pseudonymous id, its traits empty, and no later event writes any.
    Column("erased_at", UtcDateTime),
    Index(None, "segment", "customer_id"),
    Index(None, "segment", "status", "installations_in_use"),
    Index(None, "status", "customer_id"),
    Index(None, "country", "customer_id"),
)

# The purchase ledger: one row per purchase event_id, so a redelivered or retried
# purchase is counted once. Revenue per currency is summed from it, never across currencies.
purchases = Table(
    "purchases",
    metadata,
    Column("event_id", Id, primary_key=True),
    Column("customer_id", Id, nullable=False),
    Column("order_id", Id, nullable=False),
    Column("product_id", Id, nullable=False),
    Column("amount_micros", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Index(None, "customer_id", "currency"),
    Index(None, "product_id", "customer_id", "order_id"),
)

installations = Table(
    "installations",
    metadata,
    Column("installation_id", Id, primary_key=True),
    Column("customer_id", Id),
    Column("product_id", Id),
    Column("version", Id),
    Column("platform", String(64)),
    Column("installed_at", UtcDateTime),
    Column("last_heartbeat_at", UtcDateTime),
    Column("usage", Json),
    Column("uninstalled_at", UtcDateTime),
    # Per attribute, the stamp of the event that set it; usage_at for the usage: late
    # events never overwrite newer values.
    Column("attr_times", Json, nullable=False),
    Column("usage_at", UtcDateTime),
    Column("status", String(16), nullable=False),
    Column("status_changed_at", UtcDateTime, nullable=False),
    # The later of installed_at and last_heartbeat_at: silence is measured from here.
    Column("silent_since", UtcDateTime),
    # The telemetry partition the installation's events arrive on: an instance sweeps
    # only the installations of the partitions assigned to it.
    Column("partition", Integer),
    Column("first_seen_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index(None, "customer_id", "status"),
    # Not silent_since: every heartbeat moves it, and an indexed column would make
    # every heartbeat's update write all the indexes (no HOT update). Fill factor 80.
    Index(None, "partition", "status"),
    Index(None, "product_id", "version", "status"),
    Index(None, "status", "installation_id"),
    postgresql_with={"fillfactor": 80},
)

# Where each consumer group stands in each partition, written in the same transaction
# as the effects of the records before that offset: the source of truth on restart.
consumer_offsets = Table(
    "consumer_offsets",
    metadata,
    Column("group_id", String(255), nullable=False),
    Column("topic", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("next_offset", BigInteger, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("group_id", "topic", "partition"),
)

# Every status change is one signal. The table is the feed (GET /v1/signals, ordered by
# signal_id) and the outbox: published_at is set once the broker holds the signal.
signals = Table(
    "signals",
    metadata,
    Column(
        "signal_id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("kind", String(32), nullable=False),
    Column("installation_id", Id),
    Column("customer_id", Id),
    Column("product_id", Id),
    Column("previous_status", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    # When it happened on the pipeline's clock, and when basewatch noticed (wall clock).
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("detected_at", UtcDateTime, nullable=False),
    Column("silent_since", UtcDateTime),
    Column("published_at", UtcDateTime),
    Index(None, "kind", "signal_id"),
    Index(None, "published_at", "signal_id"),
    # GET /v1/history counts signals per kind and step by their time.
    Index(None, "occurred_at", "kind"),
)

# One row: until when an operator has released the mass-silence hold.
churn_control = Table(
    "churn_control",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("hold_released_until", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
)

# The bases over time (GET /v1/history): a series is (metric, labels); a row only when a
# sample differs from the series' previous value: the value at t is the last row <= t.
history = Table(
    "history",
    metadata,
    Column("metric", String(16), nullable=False),
    Column("labels", Json, nullable=False),  # canonical: keys in sorted order
    Column("bucket", UtcDateTime, nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("metric", "labels", "bucket"),
    Index(None, "metric", "bucket"),
)

# One row: the first boundary sampled, and the boundary through which the history is
# settled. Claimed with a compare-and-set, so exactly one instance samples a boundary.
history_progress = Table(
    "history_progress",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("first_bucket", UtcDateTime, nullable=False),
    Column("settled_through", UtcDateTime, nullable=False),
    # The last sample, [[metric, labels, value], ...], read under the claim's lock.
    Column("latest", Json, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

# GET /v1/movements: moves in or out of a base per kind, product ("": none) and boundary;
# pending until the next sample moves them to its boundary (projection/movements.py).
movements = Table(
    "movements",
    metadata,
    Column("base", String(16), nullable=False),
    Column("bucket", UtcDateTime, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("product_id", Id, nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("base", "bucket", "kind", "product_id"),
)
movements_pending = Table(
    "movements_pending",
    metadata,
    Column("base", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("product_id", Id, nullable=False),
    Column("value", BigInteger, nullable=False),
    PrimaryKeyConstraint("base", "kind", "product_id"),
)

# Every erasure request the projector applied (GET /v1/erasures, ordered by position):
# one row per erasure_id, so a redelivered erasure record is recorded once.
erasures = Table(
    "erasures",
    metadata,
    Column(
        "position",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("erasure_id", Id, nullable=False, unique=True),
    Column("customer_id", Id, nullable=False),
    Column("requested_at", UtcDateTime, nullable=False),
    Column("source", Id, nullable=False),  # the name of the key that asked
    Column("applied_at", UtcDateTime, nullable=False),
)

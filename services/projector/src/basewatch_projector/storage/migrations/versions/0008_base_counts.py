"""The sizes of the two bases kept by the database: ``base_counts`` and its triggers.

GET /v1/summary, each history sample and the sweep's metrics counted the customers and
installations by scanning them; right after a catch-up, or while a projector applies at
full speed, the pages of ``installations`` are not all-visible and an index-only scan
reads the heap: 180-200 ms with 100,000 installations. From now on every statement that
inserts, updates or deletes a customer or an installation adds its change of the counts
to ``base_counts`` in its own transaction (a row per key it changed: +1 for the new
values, -1 for the old), so a reader sums a few rows in one snapshot and the numbers
are exact by construction, whichever code path wrote. Rows are only appended, so
concurrent projector instances never wait for each other here; the sweep folds them
(``storage/counts.py``).

PostgreSQL: statement triggers with transition tables, one aggregated insert per
statement. SQLite: row triggers (only when a counted column changed).

Filled from what is there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# What a row counts, as the columns (base, label, version, status, n, used), for rows
# named {r}, with sign {s}.
_COUNTED = {
    "customers": (
        "'customers'",
        "{r}.segment",
        "NULL",
        "{r}.status",
        "{s}1",
        "{s}{r}.installations_in_use",
    ),
    "installations": (
        "'installations'",
        "{r}.product_id",
        "{r}.version",
        "{r}.status",
        "{s}1",
        "CASE WHEN {r}.customer_id IS NULL AND {r}.status IN ('active', 'at_risk') "
        "THEN {s}1 ELSE 0 END",
    ),
}
_NAMES = ("base", "label", "version", "status", "n", "used")
_COLUMNS = ", ".join(_NAMES)


def _counted(table: str, rows: str, sign: str = "", *, named: bool = True) -> str:
    """The counted columns of ``rows`` with ``sign``, named (a select) or not (values)."""
    values = [v.format(r=rows, s=sign) for v in _COUNTED[table]]
    if named:
        values = [f"{v} AS {name}" for v, name in zip(values, _NAMES, strict=True)]
    return ", ".join(values)


_WATCHED = {
    "customers": ("segment", "status", "installations_in_use"),
    "installations": ("product_id", "version", "status", "customer_id"),
}


def upgrade() -> None:
    """Create the table, fill it, and keep it by triggers."""
    op.create_table(
        "base_counts",
        sa.Column("base", sa.String(16), nullable=False),
        sa.Column("label", sa.String(128)),
        sa.Column("version", sa.String(128)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
        sa.Column("used", sa.BigInteger, nullable=False),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _COUNTED:
        for statement in _postgres(table) if postgres else _sqlite(table):
            op.execute(statement)
        op.execute(
            f"INSERT INTO base_counts ({_COLUMNS}) "
            f"SELECT base, label, version, status, sum(n), sum(used) "
            f"FROM (SELECT {_counted(table, table)} FROM {table}) AS d "
            "GROUP BY base, label, version, status"
        )


def downgrade() -> None:
    """Drop the triggers and the table."""
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in _COUNTED:
        for op_name in ("insert", "update", "delete"):
            name = f"base_counts_{table}_{op_name}"
            if postgres:
                op.execute(f"DROP TRIGGER {name} ON {table}")
                op.execute(f"DROP FUNCTION {name}()")
            else:
                op.execute(f"DROP TRIGGER {name}")
    op.drop_table("base_counts")


def _postgres(table: str) -> list[str]:
    """Per kind of statement: a function adding the statement's changes, aggregated,
    and the statement trigger that calls it with the rows before and after."""
    new = f"SELECT {_counted(table, 'new_rows')} FROM new_rows"
    old = f"SELECT {_counted(table, 'old_rows', '-')} FROM old_rows"
    kinds = {
        "insert": (new, "NEW TABLE AS new_rows"),
        "update": (f"{old} UNION ALL {new}", "OLD TABLE AS old_rows NEW TABLE AS new_rows"),
        "delete": (old, "OLD TABLE AS old_rows"),
    }
    statements = []
    for kind, (rows, referencing) in kinds.items():
        name = f"base_counts_{table}_{kind}"
        statements += [
            f"""CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO base_counts ({_COLUMNS})
  SELECT base, label, version, status, sum(n), sum(used)
  FROM ({rows}) AS d
  GROUP BY base, label, version, status
  HAVING sum(n) <> 0 OR sum(used) <> 0;
  RETURN NULL;
END $$""",
            f"CREATE TRIGGER {name} AFTER {kind.upper()} ON {table} "
            f"REFERENCING {referencing} FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        ]
    return statements


def _sqlite(table: str) -> list[str]:
    """Row triggers: an update adds -1 for the old values and +1 for the new, only when a
    counted column changed."""
    insert = f"INSERT INTO base_counts ({_COLUMNS}) VALUES"
    new = f"{insert} ({_counted(table, 'NEW', named=False)});"
    old = f"{insert} ({_counted(table, 'OLD', '-', named=False)});"
    changed = " OR ".join(f"OLD.{c} IS NOT NEW.{c}" for c in _WATCHED[table])
    watched = ", ".join(_WATCHED[table])
    return [
        f"CREATE TRIGGER base_counts_{table}_insert AFTER INSERT ON {table} BEGIN {new} END",
        f"CREATE TRIGGER base_counts_{table}_update AFTER UPDATE OF {watched} ON {table} "
        f"WHEN {changed} BEGIN {old} {new} END",
        f"CREATE TRIGGER base_counts_{table}_delete AFTER DELETE ON {table} BEGIN {old} END",
    ]

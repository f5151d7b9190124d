"""Multi-row statements that stay fast for thousands of rows, on PostgreSQL and SQLite.

PostgreSQL gets one statement per thousand rows (``STATEMENT_ROWS``): the rows travel
as one array per column and ``unnest`` turns them back into rows, so the driver encodes
arrays in C instead of SQLAlchemy rendering and processing one parameter per value.
SQLite gets a prepared ``executemany`` (in-process, already cheap).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

import orjson
from sqlalchemy import ColumnElement, Table, any_, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnClause

from basewatch_projector.storage.columns import Json

_PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def is_postgres(conn: AsyncConnection) -> bool:
    """True on PostgreSQL, where the array paths apply."""
    return conn.dialect.name == "postgresql"


def insert_of(conn: AsyncConnection, table: Table) -> Any:
    """An INSERT of the connection's dialect, which can say ON CONFLICT DO NOTHING."""
    return (postgresql if is_postgres(conn) else sqlite).insert(table)


def any_of(
    conn: AsyncConnection, column: ColumnClause[Any], values: Iterable[Any]
) -> ColumnElement[bool]:
    """``column IN values``: one array parameter on PostgreSQL instead of one per value."""
    values = list(values)
    if is_postgres(conn):
        array = bindparam(None, values, type_=postgresql.ARRAY(column.type))
        return column == any_(array)
    return column.in_(values)


Columns = Mapping[str, Sequence[Any]]  # a batch's rows as one list of values per column
# Rows per statement on PostgreSQL. The driver encodes a statement's arrays in one go,
# holding the event loop (and the read API's requests) meanwhile: ~6 ms for 1,000
# installation rows, where a batch's 6,000 in one statement took ~35 ms.
STATEMENT_ROWS: Final = 1000


def columns_of(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """``rows`` (dicts with the same keys) as one list per column."""
    return {name: [row[name] for row in rows] for name in rows[0]} if rows else {}


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update_columns: Collection[str],
    *,
    adding: bool = False,
) -> None:
    """Insert ``rows``; on a key conflict overwrite ``update_columns`` (none: ignore the
    row), or with ``adding`` add the row's values to them (counters, deltas)."""
    if not rows:
        return
    if is_postgres(conn):
        await upsert_columns(conn, table, columns_of(rows), keys, update_columns, adding=adding)
    else:
        await _sqlite_upsert(conn, table, rows, keys, update_columns, adding)


async def upsert_columns(
    conn: AsyncConnection,
    table: Table,
    columns: Columns,
    keys: Sequence[str],
    update_columns: Collection[str],
    *,
    adding: bool = False,
) -> None:
    """``upsert`` of rows given as columns (no dict per row for a large batch)."""
    if not columns or not next(iter(columns.values())):
        return
    names = tuple(columns)
    if is_postgres(conn):
        sql = _unnest_upsert(table, names, tuple(keys), tuple(update_columns), adding)
        for part in _parts(columns):
            params = {f"p{i}": _pg_column(table, c, part[c]) for i, c in enumerate(names)}
            await conn.execute(sql, params)
        return
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns.values(), strict=True)]
    await _sqlite_upsert(conn, table, rows, keys, update_columns, adding)


async def _sqlite_upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update_columns: Collection[str],
    adding: bool,
) -> None:
    stmt = sqlite.insert(table)
    if update_columns:
        excluded = stmt.excluded
        set_ = {c: table.c[c] + excluded[c] if adding else excluded[c] for c in update_columns}
        stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_=set_)
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
    await conn.execute(stmt, list(rows))


def _pg_column(table: Table, name: str, values: Sequence[Any]) -> Sequence[Any]:
    """One column's values; JSON documents are encoded here, as their type would."""
    if isinstance(table.c[name].type, Json):
        dumps = orjson.dumps
        return [None if v is None else dumps(v).decode() for v in values]
    return values


@lru_cache(maxsize=64)
def _unnest_upsert(
    table: Table,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    updates: tuple[str, ...],
    adding: bool,
) -> Any:
    arrays, selected = [], []
    for i, name in enumerate(columns):
        column_type = table.c[name].type
        arrays.append(f"CAST(:p{i} AS {column_type.compile(dialect=_PG)}[])")
        selected.append(f"u.{name}")
    conflict = (
        "DO UPDATE SET "
        + ", ".join(
            f"{c} = {f'{table.name}.{c} + ' if adding else ''}EXCLUDED.{c}" for c in updates
        )
        if updates
        else "DO NOTHING"
    )
    return text(
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"SELECT {', '.join(selected)} FROM unnest({', '.join(arrays)}) "
        f"AS u({', '.join(columns)}) "
        f"ON CONFLICT ({', '.join(keys)}) {conflict}"
    )


async def guarded_update(
    conn: AsyncConnection,
    table: Table,
    columns: Columns,
    key: str | tuple[str, ...],
    guard: str,
    expected: Sequence[Any],
) -> int:
    """PostgreSQL: update the rows of ``columns`` (by ``key``, one column or several),
    STATEMENT_ROWS per statement, where ``guard`` still holds each row's ``expected``
    value; return how many rows were updated."""
    if not expected:
        return 0
    names = tuple(columns)
    sql = _guarded(table, names, (key,) if isinstance(key, str) else key, guard)
    updated = 0
    for part in _parts({**columns, "expected": expected}):
        params = {f"p{i}": _pg_column(table, c, part[c]) for i, c in enumerate(names)}
        params["expected"] = part["expected"]
        updated += int((await conn.execute(sql, params)).rowcount)
    return updated


def _parts(columns: Columns) -> Iterator[Columns]:
    """``columns`` in slices of at most STATEMENT_ROWS rows."""
    size = len(next(iter(columns.values())))
    if size <= STATEMENT_ROWS:
        yield columns
        return
    for start in range(0, size, STATEMENT_ROWS):
        yield {name: values[start : start + STATEMENT_ROWS] for name, values in columns.items()}


@lru_cache(maxsize=8)
def _guarded(table: Table, columns: tuple[str, ...], keys: tuple[str, ...], guard: str) -> Any:
    arrays = [
        f"CAST(:p{i} AS {table.c[name].type.compile(dialect=_PG)}[])"
        for i, name in enumerate(columns)
    ]
    arrays.append(f"CAST(:expected AS {table.c[guard].type.compile(dialect=_PG)}[])")
    updates = ", ".join(f"{c} = u.{c}" for c in columns if c not in keys)
    match = " AND ".join(f"t.{k} = u.{k}" for k in keys)
    return text(
        f"UPDATE {table.name} AS t SET {updates} "
        f"FROM unnest({', '.join(arrays)}) AS u({', '.join(columns)}, expected) "
        f"WHERE {match} AND t.{guard} = u.expected"
    )

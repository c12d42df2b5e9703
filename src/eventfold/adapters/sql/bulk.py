"""Fast ``executemany`` of key-addressed writes: each statement shape is compiled ONCE per
dialect and then sent straight to the driver with the columns' bind processors applied,
skipping SQLAlchemy's per-row parameter handling (the bulk of its cost at rebuild rates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Table, bindparam, delete, select, update
from sqlalchemy.dialects import mysql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert, UpdateBase

from eventfold.adapters.sql.driver import DriverStatement

KEY_PREFIX = "k_"
"""Prefix of the bound primary-key parameters (never clashes with a column's own name)."""


@dataclass(frozen=True, slots=True)
class _Compiled:
    statement: UpdateBase
    direct: bool  # False: the statement has binds of its own (column defaults): use SQLAlchemy
    driver: DriverStatement


class BulkWriter:
    """Runs deletes, updates and upserts of many rows by primary key, statements cached."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, str, int, str, tuple[str, ...]], _Compiled] = {}
        self._selects: dict[int, Select[Any]] = {}

    def select_by_key(self, table: Table) -> Select[Any]:
        """``SELECT * FROM table WHERE <key> = :k_<key>``, built once per table (a reused
        statement object skips SQLAlchemy's per-call cache-key work)."""
        statement = self._selects.get(id(table))
        if statement is None:
            statement = self._selects[id(table)] = select(table).where(*_by_key(table))
        return statement

    def delete(self, conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
        """``rows`` carry the key columns under :data:`KEY_PREFIX` names."""
        self._run(conn, table, "delete", (), rows)

    def update(
        self, conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[Any]
    ) -> None:
        """Set ``columns`` on the rows whose keys (:data:`KEY_PREFIX` names) are given."""
        self._run(conn, table, "update", columns, rows)

    def upsert(
        self, conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[Any]
    ) -> None:
        """Insert the rows or, on a key conflict, set their non-key ``columns``."""
        self._run(conn, table, "upsert", columns, rows)

    def _run(
        self,
        conn: Connection,
        table: Table,
        kind: str,
        columns: tuple[str, ...],
        rows: Sequence[Mapping[str, Any]],
    ) -> None:
        if not rows:
            return
        dialect = conn.dialect
        cache_key = (dialect.name, table.name, id(table), kind, columns)
        compiled = self._cache.get(cache_key)
        if compiled is None:
            compiled = self._cache[cache_key] = _compile(
                _statement(dialect.name, table, kind, columns), dialect, table, kind, columns
            )
        if compiled.direct:
            driver = compiled.driver
            conn.exec_driver_sql(driver.sql, [driver.arguments(row) for row in rows])
        else:
            conn.execute(compiled.statement, list(rows))


def _by_key(table: Table) -> list[ColumnElement[bool]]:
    """``<key column> = :k_<key column>`` for each primary-key column of ``table``."""
    return [c == bindparam(KEY_PREFIX + c.name) for c in table.primary_key.columns]


def _statement(dialect: str, table: Table, kind: str, columns: tuple[str, ...]) -> UpdateBase:
    if kind == "delete":
        return delete(table).where(*_by_key(table))
    if kind == "update":
        return update(table).where(*_by_key(table)).values({c: bindparam(c) for c in columns})
    keys = [c.name for c in table.primary_key.columns]
    return upsert_statement(dialect, table, columns, keys)


def _compile(
    statement: UpdateBase, dialect: Dialect, table: Table, kind: str, columns: tuple[str, ...]
) -> _Compiled:
    column_keys = list(columns) if kind == "upsert" else None
    driver = DriverStatement.compile(statement, dialect, column_keys=column_keys)
    keys = {KEY_PREFIX + c.name for c in table.primary_key.columns}
    direct = all(name in columns or name in keys for name in driver.names)
    return _Compiled(statement, direct, driver)


def upsert_statement(
    dialect: str, table: Table, columns: Sequence[str], keys: Sequence[str]
) -> Insert:
    """``INSERT`` of ``columns`` that sets the non-key ones when the key exists."""
    others = [c for c in columns if c not in keys]
    if dialect == "sqlite":
        lite = sqlite.insert(table)
        if not others:
            return lite.on_conflict_do_nothing(index_elements=list(keys))
        return lite.on_conflict_do_update(
            index_elements=list(keys), set_={c: lite.excluded[c] for c in others}
        )
    if dialect in ("mysql", "mariadb"):
        my = mysql.insert(table)
        if not others:
            return my.prefix_with("IGNORE")
        return my.on_duplicate_key_update({c: my.inserted[c] for c in others})
    raise NotImplementedError(f"upsert on {dialect}")

"""The handlers' view of a projection's tables inside one batch transaction.

A projection handler writes through :class:`Rows`: ``upsert`` / ``update`` / ``delete``
address a row by its primary key and are BUFFERED: several writes to the same row within a
batch collapse into one, and at the end of the batch every table's writes go out as a few
``executemany`` statements (deletes, then updates, then upserts). That is what lets a
rebuild apply tens of thousands of events per second. The result equals running the
writes one by one as long as rows are addressed by primary key only (other unique
constraints are not reordered around); anything else goes through :meth:`Rows.execute`,
which first flushes what is buffered and then runs at once, in order.

``rows.tables`` maps each table's live name to the table actually written — the live one,
or its shadow copy during a rebuild — so the same handler serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Executable, Table
from sqlalchemy.engine import CursorResult

from eventfold.adapters.sql.bulk import KEY_PREFIX, BulkWriter

Row = Mapping[str, Any]
Key = tuple[Any, ...]


@dataclass(slots=True)
class _Pending:
    kind: str  # "upsert" | "update" | "delete"
    values: dict[str, Any] = field(default_factory=dict)


class Rows:
    """Buffered, primary-key addressed writes to a projection's tables (see module doc)."""

    def __init__(
        self, connection: Connection, tables: Mapping[str, Table], bulk: BulkWriter | None = None
    ) -> None:
        self._connection = connection
        self._bulk = bulk or BulkWriter()
        self.tables: Mapping[str, Table] = tables
        self._pending: dict[str, dict[Key, _Pending]] = {}
        self._keys: dict[str, tuple[str, ...]] = {
            name: tuple(c.name for c in table.primary_key.columns) for name, table in tables.items()
        }

    # -- buffered writes ---------------------------------------------------------------
    def upsert(self, table: str, row: Row) -> None:
        """Insert ``row`` or, when its primary key exists, set the columns it names."""
        key = self._key_of(table, row)
        pending = self._table(table)
        before = pending.get(key)
        if before is None:
            pending[key] = _Pending("upsert", dict(row))
        elif before.kind == "upsert":
            before.values.update(row)
        else:  # an update or delete of this row is buffered: keep the order exact
            self.flush()
            self._table(table)[key] = _Pending("upsert", dict(row))

    def update(self, table: str, key: Row, values: Row) -> None:
        """Set ``values`` on the row with primary key ``key`` (nothing if there is none)."""
        pk = self._key_of(table, key)
        pending = self._table(table)
        before = pending.get(pk)
        if before is None:
            pending[pk] = _Pending("update", dict(values))
        elif before.kind in ("upsert", "update"):
            before.values.update(values)
        # after a delete an update changes nothing

    def delete(self, table: str, key: Row) -> None:
        """Delete the row with primary key ``key`` (nothing if there is none)."""
        pk = self._key_of(table, key)
        self._table(table)[pk] = _Pending("delete", dict(zip(self._keys[table], pk, strict=True)))

    # -- reads and arbitrary SQL -------------------------------------------------------
    def get(self, table: str, key: Row) -> dict[str, Any] | None:
        """The row with primary key ``key`` as this batch sees it (buffered writes included)."""
        pk = self._key_of(table, key)
        before = self._table(table).get(pk)
        target = self.tables[table]
        if before is not None:
            if before.kind == "delete":
                return None
            if before.kind == "upsert" and len(before.values) == len(target.columns):
                return dict(before.values)
            self.flush()
        return self._bulk.get(self._connection, target, _bound_key(self._keys[table], pk))

    @property
    def connection(self) -> Connection:
        """The batch's connection, for any SQL; buffered writes are flushed first."""
        self.flush()
        return self._connection

    def execute(self, statement: Executable, parameters: Any = None) -> CursorResult[Any]:
        """Run ``statement`` now, in order, after flushing the buffered writes."""
        return self.connection.execute(statement, parameters)

    # -- flushing ----------------------------------------------------------------------
    def flush(self) -> None:
        """Send every buffered write (a few ``executemany`` per table)."""
        pending, self._pending = self._pending, {}
        for name, rows in pending.items():
            if rows:
                self._flush_table(name, rows)

    def _flush_table(self, name: str, rows: dict[Key, _Pending]) -> None:
        table = self.tables[name]
        keys = self._keys[name]
        deletes: list[dict[str, Any]] = []
        updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        upserts: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for pk, op in rows.items():
            if op.kind == "delete":
                deletes.append(_bound_key(keys, pk))
            elif op.kind == "update":
                if op.values:
                    keyed = _bound_key(keys, pk)
                    keyed.update(op.values)
                    updates.setdefault(tuple(sorted(op.values)), []).append(keyed)
            else:
                upserts.setdefault(tuple(sorted(op.values)), []).append(op.values)
        conn = self._connection
        self._bulk.delete(conn, table, deletes)
        for columns, batch in updates.items():
            self._bulk.update(conn, table, columns, batch)
        for columns, batch in upserts.items():
            self._bulk.upsert(conn, table, columns, batch)

    # -- helpers -----------------------------------------------------------------------
    def _table(self, name: str) -> dict[Key, _Pending]:
        pending = self._pending.get(name)
        if pending is None:
            if name not in self.tables:
                raise KeyError(f"{name!r} is not a table of this projection: {sorted(self.tables)}")
            pending = self._pending[name] = {}
        return pending

    def _key_of(self, table: str, row: Row) -> Key:
        try:
            names = self._keys[table]
        except KeyError:
            raise KeyError(
                f"{table!r} is not a table of this projection: {sorted(self.tables)}"
            ) from None
        try:
            if len(names) == 1:  # most tables: skip the generator
                return (row[names[0]],)
            return tuple([row[name] for name in names])
        except KeyError as exc:
            raise KeyError(f"{table}: the row lacks primary-key column {exc.args[0]!r}") from None


def _bound_key(names: tuple[str, ...], key: Key) -> dict[str, Any]:
    """A primary key as the parameters :class:`BulkWriter` statements bind it under
    (:data:`KEY_PREFIX` names)."""
    return {KEY_PREFIX + name: value for name, value in zip(names, key, strict=True)}

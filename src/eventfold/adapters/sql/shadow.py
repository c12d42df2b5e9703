"""Shadow copies of a projection's tables, and the atomic swap that puts them live.

SQLite: the shadow tables are created WITHOUT their secondary indexes (a faster bulk load;
SQLite index names are global to the file, so copies could not keep the real names).
:func:`swap` runs in one ``BEGIN IMMEDIATE`` transaction: drop each live table, rename its
shadow to the live name, create the indexes under their real names. Readers (WAL) see the
old tables until the commit, then the new ones.

MySQL/MariaDB: DDL commits implicitly, so the swap is ONE ``RENAME TABLE a TO a__old,
a__shadow TO a, ...`` statement, which MySQL performs atomically for every table named;
the old copies are dropped afterwards. Index names are per table there, so the shadow
keeps them from the start.

Foreign keys are not supported in projection tables (their names are global in MySQL and a
rebuild would have to rename them); a query model needs none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, Engine, MetaData, Table, text

from eventfold.adapters.sql.engine import write_transaction

SHADOW_SUFFIX = "__shadow"
OLD_SUFFIX = "__old"
MAX_TABLE_NAME = 64 - max(len(SHADOW_SUFFIX), len(OLD_SUFFIX))
"""MySQL allows 64 characters; the shadow and old copies need room for their suffix."""


def shadow_tables(tables: Sequence[Table], dialect: str) -> dict[str, Table]:
    """Copies of ``tables`` named ``<name>__shadow`` (in a private MetaData), keyed by the
    live name."""
    metadata = MetaData()
    copies: dict[str, Table] = {}
    for table in tables:
        copy = table.to_metadata(metadata, name=table.name + SHADOW_SUFFIX)
        if dialect == "sqlite":
            copy.indexes.clear()
        copies[table.name] = copy
    return copies


def create_shadows(engine: Engine, shadows: Mapping[str, Table]) -> None:
    """Fresh, empty shadow tables (leftovers of an interrupted rebuild are dropped)."""
    drop_shadows(engine, shadows)
    with write_transaction(engine) as conn:
        for shadow in shadows.values():
            shadow.create(conn)


def drop_shadows(engine: Engine, shadows: Mapping[str, Table]) -> None:
    with write_transaction(engine) as conn:
        for shadow in shadows.values():
            shadow.drop(conn, checkfirst=True)


def swap(engine: Engine, live: Sequence[Table], shadows: Mapping[str, Table]) -> None:
    """Put every shadow table in place of its live table, atomically (see module doc)."""
    with write_transaction(engine) as conn:
        for table in live:  # a first rebuild may run before the live tables exist
            table.create(conn, checkfirst=True)
    if engine.dialect.name == "sqlite":
        _swap_sqlite(engine, live, shadows)
    else:
        _swap_mysql(engine, live, shadows)


def _swap_sqlite(engine: Engine, live: Sequence[Table], shadows: Mapping[str, Table]) -> None:
    with write_transaction(engine) as conn:
        for table in live:
            conn.execute(text(f"DROP TABLE {_quote(conn, table.name)}"))
            conn.execute(
                text(
                    f"ALTER TABLE {_quote(conn, shadows[table.name].name)} "
                    f"RENAME TO {_quote(conn, table.name)}"
                )
            )
            for index in table.indexes:
                index.create(conn)


def _swap_mysql(engine: Engine, live: Sequence[Table], shadows: Mapping[str, Table]) -> None:
    with engine.connect() as conn:
        renames = []
        for table in live:
            name, shadow = _quote(conn, table.name), _quote(conn, shadows[table.name].name)
            old = _quote(conn, table.name + OLD_SUFFIX)
            conn.execute(text(f"DROP TABLE IF EXISTS {old}"))
            renames += [f"{name} TO {old}", f"{shadow} TO {name}"]
        conn.execute(text("RENAME TABLE " + ", ".join(renames)))
        for table in live:
            conn.execute(text(f"DROP TABLE {_quote(conn, table.name + OLD_SUFFIX)}"))
        conn.commit()


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)

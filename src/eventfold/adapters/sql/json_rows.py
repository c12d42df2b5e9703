"""Rows rendered as JSON by the database: for query routes that answer many rows.

A page of 50 rows built as pydantic models and dumped again cost 0.52 ms of CPU
in-process; the same page as one JSON object per row from SQLite's ``json_object``,
joined in Python, 0.15 ms (the staff list of the reservation service, docs/performance.md).
The JSON is what the pydantic model of the row would dump: numbers and strings as they
are, NULL as ``null``, times (naive UTC, as query models store them) as RFC 3339 UTC,
``2026-05-10T09:00:00.250000Z`` (``.ffffff`` only when the microseconds are not zero) —
what pydantic writes for an aware UTC datetime. A test holds the two equal on SQLite and
MariaDB (MySQL 8 is accepted too, untested here: it orders an object's keys its own way,
which JSON readers don't mind).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Dialect,
    Integer,
    String,
    case,
    func,
    literal_column,
)
from sqlalchemy.dialects import mysql, sqlite

from eventfold.adapters.sql.driver import SQLITE_DATETIME_FORMAT as _SQLITE_TEXT

_DIALECTS: dict[str, Callable[..., Dialect]] = {
    "sqlite": sqlite.dialect,
    "mysql": mysql.dialect,
    "mariadb": mysql.dialect,  # the same functions (JSON_OBJECT, DATE_FORMAT)
}
JSON_ROW_DIALECTS = tuple(_DIALECTS)


def json_row(columns: Iterable[ColumnElement[Any]], dialect: str) -> ColumnElement[str]:
    """An expression giving each row's ``columns`` as one JSON object (text), keyed by the
    columns' names, for the ``dialect`` (an engine's ``dialect.name``). Columns of text,
    integer and datetime types only; ValueError for another type, or a dialect not in
    :data:`JSON_ROW_DIALECTS`. The expression is SQL text naming the columns by their
    table: select it FROM that table (with another of its columns, or ``select_from``)."""
    if dialect not in JSON_ROW_DIALECTS:
        raise ValueError(f"json_row: no JSON rendering for {dialect!r} ({JSON_ROW_DIALECTS})")
    pairs: list[Any] = []
    for column in columns:
        name = getattr(column, "name", None) or getattr(column, "key", None)
        if not name:
            raise ValueError(f"json_row: {column!r} has no name; label it")
        pairs += [literal_column(_quoted(name)), _value(column, dialect)]
    # Compiled to SQL text once: as an expression, the CASEs of every time column made
    # SQLAlchemy walk a large tree for the statement's cache key on every request (a fifth
    # of a page's CPU). Bound values inline, percent signs single (the statement that
    # holds the text escapes them for its driver).
    expression = func.json_object(*pairs)
    compiler = _DIALECTS[dialect](paramstyle="named")
    sql = str(expression.compile(dialect=compiler, compile_kwargs={"literal_binds": True}))
    return literal_column(sql, type_=String)


def json_array(objects: Sequence[str]) -> str:
    """JSON objects (the texts :func:`json_row` gave) as one JSON array."""
    return "[" + ",".join(objects) + "]"


def _quoted(name: str) -> str:
    if "'" in name or "\\" in name:
        raise ValueError(f"json_row: column name {name!r} cannot be a JSON key here")
    return f"'{name}'"


def _value(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    kind = column.type
    if isinstance(kind, DateTime):
        return _rfc3339_utc(column, dialect)
    if isinstance(kind, Boolean) or not isinstance(kind, String | Integer):
        # Booleans are 0/1 in both databases, decimals and floats print their own way:
        # what the model would dump is not guaranteed, so they are refused, not guessed.
        raise ValueError(f"json_row: {column!r} is {kind!r}; only text, integers and times")
    return column


def _rfc3339_utc(column: ColumnElement[Any], dialect: str) -> ColumnElement[Any]:
    if dialect == "sqlite":
        # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy's SQLite DATETIME text)
        stored = column.type.dialect_impl(sqlite.dialect())
        if getattr(stored, "_storage_format", _SQLITE_TEXT) != _SQLITE_TEXT:
            raise ValueError(f"json_row: {column!r} is stored in its own format on SQLite")
        date, clock = func.substr(column, 1, 10), func.substr(column, 12, 8)
        whole = date.op("||")("T").op("||")(clock).op("||")("Z")
        fraction = date.op("||")("T").op("||")(func.substr(column, 12)).op("||")("Z")
        return case(
            (column.is_(None), None),
            (func.substr(column, 20).in_(("", ".000000")), whole),
            else_=fraction,
        )
    return case(
        (column.is_(None), None),
        (func.microsecond(column) == 0, func.date_format(column, "%Y-%m-%dT%H:%i:%sZ")),
        else_=func.date_format(column, "%Y-%m-%dT%H:%i:%s.%fZ"),
    )

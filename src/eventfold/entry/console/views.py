"""What the console's pages show, read from the event store, the router state, the query
model and the effects ledger (plain data; the templates only lay it out)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, and_, select
from sqlalchemy.exc import SQLAlchemyError

from eventfold.adapters.sql.ledger import effects_table
from eventfold.adapters.sql.projection import VERSIONS_SUFFIX, SqlProjection
from eventfold.domain.codecs import EventCodec
from eventfold.domain.decider import category_of, entity_id_of
from eventfold.domain.events import (
    ACTOR,
    ACTOR_ROLES,
    CAUSATION_ID,
    COMMAND_ID,
    CORRELATION_ID,
    IDEMPOTENCY_KEY,
    RecordedEvent,
)
from eventfold.entry.cli.streams import payload_json
from eventfold.entry.operations import Operations

MAX_ROWS = 50
"""Rows shown per projection table (a stream's own rows are few)."""


@dataclass(frozen=True)
class EventView:
    """One event as the console shows it: decoded payload and who caused it."""

    stream_id: str
    version: int
    type: str
    recorded_at: datetime
    payload: str
    actor: str
    command_id: str
    correlation_id: str
    causation_id: str
    metadata: str


@dataclass(frozen=True)
class ProjectionRows:
    """The rows of one projection that a stream produced, and the version it applied."""

    subscription: str
    applied_version: int
    tables: list[tuple[str, list[str], list[list[str]]]]
    """(table, columns, rows) for each table with rows keyed by the stream's entity."""


@dataclass(frozen=True)
class EffectView:
    """An effect a reaction performed (or tries to) for one of the stream's events."""

    reaction: str
    effect_key: str
    status: str
    attempts: int
    first_attempt_at: datetime | None
    done_at: datetime | None
    last_error: str


@dataclass(frozen=True)
class Timeline:
    stream_id: str
    events: list[EventView]
    projections: list[ProjectionRows]
    effects: list[EffectView]


def event_view(event: RecordedEvent, codecs: Mapping[str, EventCodec]) -> EventView:
    meta = event.metadata
    who = f"{meta.get(ACTOR_ROLES, '')} {meta.get(ACTOR, '')}".strip() or "-"
    if meta.get(IDEMPOTENCY_KEY):
        who += f" (key {meta[IDEMPOTENCY_KEY]})"
    return EventView(
        event.stream_id,
        event.version,
        event.type,
        event.recorded_at,
        json.dumps(payload_json(event, codecs), indent=2, ensure_ascii=False, default=str),
        who,
        str(meta.get(COMMAND_ID, "-")),
        str(meta.get(CORRELATION_ID, "-")),
        str(meta.get(CAUSATION_ID, "-")),
        json.dumps(dict(meta), indent=2, ensure_ascii=False, default=str),
    )


def timeline(ops: Operations, stream_id: str) -> Timeline:
    """The stream's events, the query-model rows its projections keep for it and the
    effects its events caused."""
    codecs = ops.codecs()
    events = [event_view(e, codecs) for e in ops.context.store.read(stream_id)]
    return Timeline(stream_id, events, projection_rows(ops, stream_id), effects_of(ops, stream_id))


def projection_rows(ops: Operations, stream_id: str) -> list[ProjectionRows]:
    """For every SQL projection that wants the stream's category: the version it applied
    and the rows of its tables whose primary key holds the stream's entity id or the stream
    id (the usual way a projection keys an entity's rows; rows keyed otherwise, such as
    aggregates over many streams, are not found)."""
    category = category_of(stream_id)
    found = []
    for name, sub in sorted(ops.subscriptions.items()):
        target = sub.target
        if not isinstance(target, SqlProjection) or not sub.filter.wants_stream(category):
            continue
        applied = target.applied_versions([stream_id]).get(stream_id, 0)
        tables = _rows_of(target.engine, target.tables, stream_id)
        found.append(ProjectionRows(name, applied, tables))
    return found


def _rows_of(
    engine: Engine, tables: Sequence[Table], stream_id: str
) -> list[tuple[str, list[str], list[list[str]]]]:
    found = []
    for table in tables:
        if table.name.endswith(VERSIONS_SUFFIX):
            continue
        condition = entity_key(table, stream_id)
        if condition is None:
            continue
        columns = [c.name for c in table.columns]
        statement = select(table).where(condition).limit(MAX_ROWS)
        try:
            with engine.connect() as conn:
                rows = [[_cell(v) for v in row] for row in conn.execute(statement)]
        except SQLAlchemyError:
            continue  # a table not migrated yet has no rows of the stream
        if rows:
            found.append((table.name, columns, rows))
    return found


def entity_key(table: Table, stream_id: str) -> ColumnElement[bool] | None:
    """The rows of ``table`` keyed by the stream's entity: a one-column primary key equal
    to the entity id (or the stream id), or a primary key of n columns equal to the n
    ``/``-separated parts of the entity id (``stock-shibuya/tea-01`` -> store, sku)."""
    key = list(table.primary_key.columns)
    entity = entity_id_of(stream_id)
    if len(key) == 1:
        return key[0].in_(sorted({entity, stream_id}))
    parts = entity.split("/")
    if len(parts) != len(key):
        return None
    return and_(*(column == part for column, part in zip(key, parts, strict=True)))


def effects_of(ops: Operations, stream_id: str) -> list[EffectView]:
    """The effects ledger's rows for the stream's events (keys ``<stream>:<version>/…``)."""
    t = effects_table
    prefix = stream_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"
    statement = (
        select(t)
        .where(t.c.effect_key.like(prefix, escape="\\"))
        .order_by(t.c.first_attempt_at, t.c.effect_key)
    )
    try:
        with ops.context.engine().connect() as conn:
            rows = list(conn.execute(statement).mappings())
    except SQLAlchemyError:
        return []  # no reaction has run in this home yet: no ledger table
    return [
        EffectView(
            str(r["reaction"]),
            str(r["effect_key"]),
            str(r["status"]),
            int(r["attempts"]),
            r["first_attempt_at"],
            r["done_at"],
            str(r["last_error"] or ""),
        )
        for r in rows
    ]


def effect_attempts(ops: Operations, stream_id: str, version: int) -> list[EffectView]:
    """The ledger's rows for one event of a stream (a parked event's attempts)."""
    key = f"{stream_id}:{version}/"
    return [e for e in effects_of(ops, stream_id) if e.effect_key.startswith(key)]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    return str(value)

"""The workflows' deadline index in SQL: table ``eventfold_deadlines`` (migration ef0002),
one row per (workflow, instance stream, deadline key), read by due time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Engine, MetaData, String, Table, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError

from eventfold.adapters.sql.engine import write_transaction
from eventfold.errors import DeliveryFailed

_metadata = MetaData()
deadlines_table = Table(
    "eventfold_deadlines",
    _metadata,
    Column("workflow", String(100), primary_key=True),
    Column("stream_id", String(500), primary_key=True),
    Column("deadline_key", String(100), primary_key=True),
    Column("due_at", DateTime, nullable=False, index=True),
)
"""Mirrors migration ef0002 (the migration is the source of truth for the schema)."""


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


class SqlDeadlineIndex:
    """The DeadlineIndex port on SQLAlchemy (SQLite or MySQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def set(self, workflow: str, stream_id: str, deadlines: Mapping[str, datetime]) -> None:
        t = deadlines_table
        rows = [
            {"workflow": workflow, "stream_id": stream_id, "deadline_key": k, "due_at": _naive(at)}
            for k, at in deadlines.items()
        ]
        try:
            with self.engine.connect() as conn:  # most calls change nothing: read first
                now = conn.execute(
                    select(t.c.deadline_key, t.c.due_at).where(
                        t.c.workflow == workflow, t.c.stream_id == stream_id
                    )
                )
                if {(k, at) for k, at in now} == {(r["deadline_key"], r["due_at"]) for r in rows}:
                    return
            with write_transaction(self.engine) as conn:
                conn.execute(delete(t).where(t.c.workflow == workflow, t.c.stream_id == stream_id))
                if rows:
                    conn.execute(insert(t), rows)
        except SQLAlchemyError as exc:
            raise DeliveryFailed(f"deadline index unavailable: {exc}") from exc

    def due(self, workflow: str, now: datetime, limit: int) -> list[tuple[str, str, datetime]]:
        t = deadlines_table
        query = (
            select(t.c.stream_id, t.c.deadline_key, t.c.due_at)
            .where(t.c.workflow == workflow, t.c.due_at <= _naive(now))
            .order_by(t.c.due_at, t.c.stream_id, t.c.deadline_key)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [(s, k, at.replace(tzinfo=UTC)) for s, k, at in conn.execute(query)]

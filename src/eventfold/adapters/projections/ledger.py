"""The effects ledger of reactions in SQL: table ``eventfold_effects`` (created by
:func:`eventfold.adapters.projections.migrate.migrate`), one row per (reaction, effect key).
Every call is its own committed transaction: the ledger must be durable BEFORE the effect
is performed and right AFTER it succeeded (see :mod:`eventfold.core.reactions.reaction`)."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from sqlalchemy import (
    Column,
    ColumnElement,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from eventfold.adapters.projections.bulk import upsert_statement
from eventfold.adapters.projections.engine import write_transaction
from eventfold.errors import DeliveryFailed

PENDING = "pending"
DONE = "done"
_CHUNK = 500

_metadata = MetaData()
effects_table = Table(
    "eventfold_effects",
    _metadata,
    Column("reaction", String(100), primary_key=True),
    Column("effect_key", String(500), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("first_attempt_at", DateTime, nullable=False),
    Column("done_at", DateTime, nullable=True),
    Column("last_error", Text, nullable=True),
)
"""Mirrors migration ef0001 (the migration is the source of truth for the schema)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class SqlEffectsLedger:
    """The EffectsLedger port on SQLAlchemy (SQLite or MySQL). Its statements are built
    once: a reaction touches the ledger twice per effect."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        t = effects_table
        this_row = (t.c.reaction == bindparam("r"), t.c.effect_key == bindparam("k"))
        self._done = select(t.c.effect_key).where(
            t.c.reaction == bindparam("r"),
            t.c.status == DONE,
            t.c.effect_key.in_(bindparam("keys", expanding=True)),
        )
        # insert if new; an existing row is left as it is, then counted by _bump
        self._claim = upsert_statement(
            engine.dialect.name, t, ("reaction", "effect_key"), ("reaction", "effect_key")
        )
        self._bump = (
            update(t).where(*this_row, t.c.status == PENDING).values(attempts=t.c.attempts + 1)
        )
        self._complete = (
            update(t).where(*this_row).values(status=DONE, done_at=bindparam("at"), last_error=None)
        )
        self._fail = update(t).where(*this_row).values(last_error=bindparam("reason"))

    def done(self, reaction: str, keys: Collection[str]) -> set[str]:
        found: set[str] = set()
        wanted = list(keys)
        try:
            with self.engine.connect() as conn:
                for start in range(0, len(wanted), _CHUNK):
                    chunk = wanted[start : start + _CHUNK]
                    found.update(conn.scalars(self._done, {"r": reaction, "keys": chunk}))
        except SQLAlchemyError as exc:
            raise DeliveryFailed(f"effects ledger unavailable: {exc}") from exc
        return found

    def claim(self, reaction: str, key: str) -> None:
        row = {
            "reaction": reaction,
            "effect_key": key,
            "status": PENDING,
            "attempts": 1,
            "first_attempt_at": _now(),
        }
        with self._writing() as conn:
            if conn.execute(self._claim, row).rowcount != 1:
                conn.execute(self._bump, {"r": reaction, "k": key})

    def complete(self, reaction: str, key: str) -> None:
        with self._writing() as conn:
            conn.execute(self._complete, {"r": reaction, "k": key, "at": _now()})

    def failed(self, reaction: str, key: str, reason: str) -> None:
        # best effort: the caller raises the real failure
        with suppress(DeliveryFailed), self._writing() as conn:
            conn.execute(self._fail, {"r": reaction, "k": key, "reason": reason[:2000]})

    def status(self, reaction: str, key: str) -> tuple[str, int] | None:
        """(status, attempts) of one effect, for operators and tests."""
        t = effects_table
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.status, t.c.attempts).where(_row(reaction, key))).first()
        return None if row is None else (str(row[0]), int(row[1]))

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One committed write transaction; a database failure is a (retryable)
        DeliveryFailed."""
        try:
            with write_transaction(self.engine) as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise DeliveryFailed(f"effects ledger unavailable: {exc}") from exc


def _row(reaction: str, key: str) -> ColumnElement[bool]:
    t = effects_table
    return and_(t.c.reaction == reaction, t.c.effect_key == key)

"""The effects ledger of reactions in SQL: table ``eventfold_effects`` (created by
:func:`eventfold.adapters.sql.migrate.migrate`), one row per (reaction, effect key).
A reaction's batch costs two committed transactions, whatever its size:
:meth:`~SqlEffectsLedger.claim` BEFORE the effects are performed (it also says which are
done already) and :meth:`~SqlEffectsLedger.settle` right AFTER (see
:mod:`eventfold.core.reactions.reaction`)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
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
    delete,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from eventfold.adapters.sql.bulk import upsert_statement
from eventfold.adapters.sql.engine import write_transaction
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
    """The EffectsLedger port on SQLAlchemy (SQLite or MySQL): a set-based statement per
    step and up to 500 keys (each statement is built once)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        t = effects_table
        this_reaction = t.c.reaction == bindparam("r")
        these_keys = t.c.effect_key.in_(bindparam("keys", expanding=True))
        self._done = select(t.c.effect_key).where(this_reaction, t.c.status == DONE, these_keys)
        self._known = select(t.c.effect_key, t.c.status).where(this_reaction, these_keys)
        # new rows; one another process claimed meanwhile is left as it is
        self._insert = upsert_statement(
            engine.dialect.name, t, ("reaction", "effect_key"), ("reaction", "effect_key")
        )
        self._bump = (
            update(t)
            .where(this_reaction, these_keys, t.c.status == PENDING)
            .values(attempts=t.c.attempts + 1)
        )
        self._complete = (
            update(t)
            .where(this_reaction, these_keys)
            .values(status=DONE, done_at=bindparam("at"), last_error=None)
        )
        self._fail = (
            update(t)
            .where(this_reaction, t.c.effect_key == bindparam("k"), t.c.status == PENDING)
            .values(last_error=bindparam("reason"))
        )
        self._release = (
            update(t)
            .where(this_reaction, these_keys, t.c.status == PENDING)
            .values(attempts=t.c.attempts - 1)
        )
        self._drop = delete(t).where(
            this_reaction, these_keys, t.c.status == PENDING, t.c.attempts <= 0
        )

    def done(self, reaction: str, keys: Collection[str]) -> set[str]:
        found: set[str] = set()
        try:
            with self.engine.connect() as conn:
                for chunk in _chunks(keys):
                    found.update(conn.scalars(self._done, {"r": reaction, "keys": chunk}))
        except SQLAlchemyError as exc:
            raise DeliveryFailed(f"effects ledger unavailable: {exc}") from exc
        return found

    def claim(self, reaction: str, keys: Collection[str]) -> set[str]:
        done: set[str] = set()
        if not keys:
            return done
        now = _now()
        with self._writing() as conn:
            for chunk in _chunks(keys):
                rows = conn.execute(self._known, {"r": reaction, "keys": chunk})
                known = {str(key): str(status) for key, status in rows}
                done.update(key for key, status in known.items() if status == DONE)
                new = [
                    {
                        "reaction": reaction,
                        "effect_key": key,
                        "status": PENDING,
                        "attempts": 1,
                        "first_attempt_at": now,
                    }
                    for key in chunk
                    if key not in known
                ]
                if new:
                    conn.execute(self._insert, new)
                again = [key for key, status in known.items() if status == PENDING]
                if again:
                    conn.execute(self._bump, {"r": reaction, "keys": again})
        return done

    def settle(
        self,
        reaction: str,
        done: Collection[str],
        failed: Mapping[str, str] | None = None,
        released: Collection[str] = (),
    ) -> None:
        if not done and not failed and not released:
            return
        with self._writing() as conn:
            now = _now()
            for chunk in _chunks(done):
                conn.execute(self._complete, {"r": reaction, "keys": chunk, "at": now})
            for key, reason in (failed or {}).items():
                conn.execute(self._fail, {"r": reaction, "k": key, "reason": reason[:2000]})
            for chunk in _chunks(released):
                conn.execute(self._release, {"r": reaction, "keys": chunk})
                conn.execute(self._drop, {"r": reaction, "keys": chunk})

    def status(self, reaction: str, key: str) -> tuple[str, int] | None:
        """(status, attempts) of one effect, for operators and tests."""
        t = effects_table
        with self.engine.connect() as conn:
            row = conn.execute(select(t.c.status, t.c.attempts).where(_row(reaction, key))).first()
        return None if row is None else (str(row[0]), int(row[1]))

    def last_error(self, reaction: str, key: str) -> str | None:
        """Why the last attempt of one effect failed (None: it did not, or no row)."""
        t = effects_table
        with self.engine.connect() as conn:
            return conn.scalar(select(t.c.last_error).where(_row(reaction, key)))

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


def _chunks(keys: Collection[str]) -> Iterator[list[str]]:
    """``keys`` without repeats, in lists of at most :data:`_CHUNK`."""
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _CHUNK):
        yield unique[start : start + _CHUNK]

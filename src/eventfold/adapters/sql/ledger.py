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
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import SQLAlchemyError

from eventfold.adapters.sql.bulk import upsert_statement
from eventfold.adapters.sql.driver import DriverStatement
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
    """The EffectsLedger port on SQLAlchemy (SQLite or MySQL).

    The writes of a batch are one ``executemany`` per step, of statements compiled once and
    sent to the driver (:class:`~eventfold.adapters.sql.driver.DriverStatement`): a claim
    inserts the new keys and bumps the ones already pending (one upsert on SQLite, an
    update then an insert on MySQL), and only when the rows changed leave some key
    unaccounted for (done before: a replay) does it read which are done.
    Set-based statements with an expanding ``IN`` cost SQLAlchemy a compile of the
    expansion per call, most of the ledger's CPU at the router's batch sizes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        t = effects_table
        dialect = engine.dialect
        this_reaction = t.c.reaction == bindparam("r")
        this_key = t.c.effect_key == bindparam("k")
        pending = t.c.status == PENDING
        self._done = select(t.c.effect_key).where(
            this_reaction, t.c.status == DONE, t.c.effect_key.in_(bindparam("keys", expanding=True))
        )
        key = ("reaction", "effect_key")
        columns = [*key, "status", "attempts", "first_attempt_at"]
        # A claim's statements, each run over every key; the rows they change add up to the
        # keys claimed (new or pending), so fewer means some were done before.
        self._claims: tuple[DriverStatement, ...]
        if dialect.name == "sqlite":
            # One statement: a new row, or one more attempt on a pending one (a done row
            # is left as it is).
            upsert = sqlite.insert(t)
            bump = upsert.on_conflict_do_update(
                index_elements=list(key), set_={"attempts": t.c.attempts + 1}, where=pending
            )
            self._claims = (DriverStatement.compile(bump, dialect, column_keys=columns),)
        else:
            # MySQL counts an ON DUPLICATE KEY UPDATE as two rows changed, and a row left
            # as it was as one: the pending rows are bumped first, then the new ones
            # inserted (an existing key is left as it is: another process claimed it
            # meanwhile, or it was done before).
            self._claims = (
                DriverStatement.compile(
                    update(t)
                    .where(this_reaction, this_key, pending)
                    .values(attempts=t.c.attempts + 1),
                    dialect,
                ),
                DriverStatement.compile(
                    upsert_statement(dialect.name, t, key, key), dialect, column_keys=columns
                ),
            )
        self._complete = DriverStatement.compile(
            update(t)
            .where(this_reaction, this_key)
            .values(status=DONE, done_at=bindparam("at"), last_error=None),
            dialect,
        )
        self._fail = DriverStatement.compile(
            update(t)
            .where(this_reaction, this_key, pending)
            .values(last_error=bindparam("reason")),
            dialect,
        )
        self._release = DriverStatement.compile(
            update(t).where(this_reaction, this_key, pending).values(attempts=t.c.attempts - 1),
            dialect,
        )
        self._drop = DriverStatement.compile(
            delete(t).where(this_reaction, this_key, pending, t.c.attempts <= 0), dialect
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
                # Named for every claim statement: the update's r and k, the insert's columns.
                rows = [
                    {
                        "r": reaction,
                        "k": key,
                        "reaction": reaction,
                        "effect_key": key,
                        "status": PENDING,
                        "attempts": 1,
                        "first_attempt_at": now,
                    }
                    for key in chunk
                ]
                changed = sum(claim.executemany(conn, rows) for claim in self._claims)
                if changed < len(chunk):  # the others are done
                    done.update(conn.scalars(self._done, {"r": reaction, "keys": chunk}))
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
            completed = [{"r": reaction, "k": key, "at": now} for key in dict.fromkeys(done)]
            self._complete.executemany(conn, completed)
            reasons = [
                {"r": reaction, "k": key, "reason": reason[:2000]}
                for key, reason in (failed or {}).items()
            ]
            self._fail.executemany(conn, reasons)
            given_back = [{"r": reaction, "k": key} for key in dict.fromkeys(released)]
            self._release.executemany(conn, given_back)
            self._drop.executemany(conn, given_back)

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

"""The SQL projection: a Target that writes query-model rows and its per-stream versions in
ONE transaction per batch (exactly-once effect), and can be rebuilt into shadow tables.

A service declares one like this (see :mod:`eventfold.sql` for the whole story)::

    metadata = MetaData()
    reservations = Table(
        "reservations", metadata,
        Column("id", String(64), primary_key=True),
        Column("status", String(20), nullable=False),
    )
    versions_table("reservations_view", metadata)   # <name>_versions: the bookkeeping

    def on_placed(rows: Rows, event: ReservationPlaced, recorded: RecordedEvent) -> None:
        rows.upsert("reservations", {"id": event.reservation_id, "status": "placed"})

    def on_cancelled(rows: Rows, event: ReservationCancelled, recorded: RecordedEvent) -> None:
        rows.update("reservations", {"id": event.reservation_id}, {"status": "cancelled"})

    projection = SqlProjection(
        "reservations_view", engine, codec, [reservations],
        {ReservationPlaced: on_placed, ReservationCancelled: on_cancelled},
    )
    wanted = EventFilter(categories=frozenset({"reservation"}))
    Subscription("reservations_view", projection, wanted)
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    MetaData,
    Select,
    String,
    Table,
    bindparam,
    select,
)
from sqlalchemy.exc import SQLAlchemyError

from eventfold.adapters.sql.bulk import BulkWriter
from eventfold.adapters.sql.engine import write_transaction
from eventfold.adapters.sql.rows import Rows
from eventfold.adapters.sql.shadow import (
    MAX_TABLE_NAME,
    create_shadows,
    drop_shadows,
    shadow_tables,
    swap,
)
from eventfold.core.router.ports import Plan
from eventfold.domain.codecs import EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.errors import ConfigurationError, DeliveryFailed, UnknownEventType

ProjectionHandler = Callable[[Rows, Any, RecordedEvent], None]
"""Applies one decoded event to the query model: ``(rows, event, recorded) -> None``.
``rows`` writes the live tables, or their shadows during a rebuild (see :class:`Rows`);
``recorded`` carries the stream id, version, metadata and time of the event."""

VERSIONS_SUFFIX = "_versions"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_READ_CHUNK = 500


def versions_table(projection: str, metadata: MetaData) -> Table:
    """Declare the table ``<projection>_versions`` (stream id -> last applied version) in
    ``metadata``, beside the projection's own tables, so that ``create_all`` or the
    service's migrations create it and a rebuild swaps it together with them."""
    name = projection + VERSIONS_SUFFIX
    if name in metadata.tables:
        return metadata.tables[name]
    return Table(
        name,
        metadata,
        Column("stream_id", String(255), primary_key=True),
        Column("version", BigInteger, nullable=False),
    )


class SqlProjection:
    """Target + TracksVersions + PlansInTransaction + Rebuildable over SQLAlchemy tables.

    ``tables``: the projection's own tables (each with a primary key, no foreign keys),
    declared in one MetaData that also holds :func:`versions_table` of ``name``.
    ``handlers``: event class -> :data:`ProjectionHandler`; events of registered types
    without a handler only advance the stream's version, unregistered types raise
    UnknownEventType (the stream parks until code that knows them is deployed).
    One process applies a projection at a time (its subscription's runner).
    """

    def __init__(
        self,
        name: str,
        engine: Engine,
        codec: EventCodec,
        tables: Sequence[Table],
        handlers: Mapping[type, ProjectionHandler],
    ) -> None:
        self.name = name
        self.engine = engine
        self.codec = codec
        self._check(name, tables)
        metadata = tables[0].metadata
        versions = metadata.tables.get(name + VERSIONS_SUFFIX)
        if versions is None:
            raise ConfigurationError(
                f"projection {name!r}: declare its versions table with "
                f"eventfold.sql.versions_table({name!r}, metadata) beside its tables"
            )
        self.tables: tuple[Table, ...] = (*tables, versions)
        self._live = {t.name: t for t in self.tables}
        self._bulk = BulkWriter()
        self._versions_name = versions.name
        self._handlers_by_class = dict(handlers)
        self._handlers_by_name: dict[str, ProjectionHandler] = {}
        for entry in codec.types:
            if entry.cls in handlers:
                self._handlers_by_name[entry.name] = handlers[entry.cls]
        unknown = [c.__name__ for c in handlers if c not in {e.cls for e in codec.types}]
        if unknown:
            raise ConfigurationError(
                f"projection {name!r} handles {', '.join(unknown)}, which the codec does "
                "not know: register them with the service's EventTypes"
            )

    @staticmethod
    def _check(name: str, tables: Sequence[Table]) -> None:
        if not _NAME.match(name) or len(name) + len(VERSIONS_SUFFIX) > MAX_TABLE_NAME:
            raise ConfigurationError(
                f"projection name {name!r} must be a SQL identifier (letters, digits, _) of "
                f"at most {MAX_TABLE_NAME - len(VERSIONS_SUFFIX)} characters"
            )
        if not tables:
            raise ConfigurationError(f"projection {name!r} needs at least one table")
        for table in tables:
            if table.metadata is not tables[0].metadata:
                raise ConfigurationError(f"projection {name!r}: declare its tables in one MetaData")
            if not table.primary_key.columns:
                raise ConfigurationError(f"{table.name}: a projection table needs a primary key")
            if table.foreign_keys:
                raise ConfigurationError(
                    f"{table.name}: projection tables cannot have foreign keys (a rebuild "
                    "swaps tables one by one); drop them, the projection keeps rows consistent"
                )
            if len(table.name) > MAX_TABLE_NAME:
                raise ConfigurationError(
                    f"{table.name}: table names of projections are at most {MAX_TABLE_NAME} "
                    "characters (room for the rebuild's shadow suffix)"
                )

    # -- schema ------------------------------------------------------------------------
    def create_tables(self) -> None:
        """Create the projection's tables that do not exist yet (tests, quick starts;
        services with migrations run :func:`eventfold.sql.migrate` instead)."""
        with write_transaction(self.engine) as conn:
            for table in self.tables:
                table.create(conn, checkfirst=True)

    # -- Target / TracksVersions -------------------------------------------------------
    def apply(self, events: Sequence[RecordedEvent]) -> None:
        """Apply the batch and record each stream's last version, in one transaction.
        Events at or below the recorded version are skipped, so a redelivered batch
        changes nothing."""
        if events:
            with self._transaction() as conn:
                self._apply(conn, self._live, events, None)

    def applied_versions(self, stream_ids: Collection[str]) -> Mapping[str, int]:
        with self._reading() as conn:
            return read_versions(conn, self._live[self._versions_name], stream_ids)

    def apply_planned(self, stream_ids: Collection[str], plan: Plan) -> None:
        """The router's batch in one transaction that first reads the streams' versions
        (:class:`~eventfold.core.router.ports.PlansInTransaction`): one read per batch."""
        with self._transaction() as conn:
            current = read_versions(conn, self._live[self._versions_name], stream_ids)
            events = plan(current)
            if events:
                self._apply(conn, self._live, events, current)

    # -- Rebuildable -------------------------------------------------------------------
    def begin_rebuild(self) -> SqlRebuild:
        shadows = shadow_tables(self.tables, self.engine.dialect.name)
        try:
            create_shadows(self.engine, shadows)
        except SQLAlchemyError as exc:
            raise DeliveryFailed(f"{self.name}: cannot create shadow tables: {exc}") from exc
        return SqlRebuild(self, shadows)

    # -- shared by live and shadow -----------------------------------------------------
    def _apply(
        self,
        conn: Connection,
        tables: Mapping[str, Table],
        events: Sequence[RecordedEvent],
        known: Mapping[str, int] | None,
    ) -> dict[str, int]:
        versions = tables[self._versions_name]
        current = known
        if current is None:
            current = read_versions(conn, versions, {e.stream_id for e in events})
        rows = Rows(conn, tables, self._bulk)
        changed: dict[str, int] = {}
        by_name = self._handlers_by_name
        for event in events:
            stream = event.stream_id
            last = changed.get(stream) or current.get(stream, 0)
            if event.version <= last:
                continue
            handler = by_name.get(event.type)
            if handler is not None:
                handler(rows, self.codec.decode(event), event)
            elif event.type in self.codec.types:  # an alias: dispatch on the class
                decoded = self.codec.decode(event)
                by_class = self._handlers_by_class.get(type(decoded))
                if by_class is not None:
                    by_class(rows, decoded, event)
            else:
                raise UnknownEventType(event.type)
            changed[stream] = event.version
        rows.flush()
        if changed:
            rows_ = [{"stream_id": s, "version": v} for s, v in changed.items()]
            self._bulk.upsert(conn, versions, ("stream_id", "version"), rows_)
        return changed

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with write_transaction(self.engine) as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise DeliveryFailed(f"projection {self.name}: {exc}") from exc

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise DeliveryFailed(f"projection {self.name}: {exc}") from exc


def read_versions(conn: Connection, versions: Table, stream_ids: Collection[str]) -> dict[str, int]:
    """The recorded version of each of ``stream_ids`` that has one."""
    found: dict[str, int] = {}
    ids = list(stream_ids)
    query = _versions_query(versions)
    for start in range(0, len(ids), _READ_CHUNK):
        rows = conn.execute(query, {"ids": ids[start : start + _READ_CHUNK]})
        for stream_id, version in rows:
            found[stream_id] = int(version)
    return found


_queries: weakref.WeakKeyDictionary[Table, Select[Any]] = weakref.WeakKeyDictionary()
"""Per versions table; a rebuild's shadow tables leave with their table objects."""


def _versions_query(versions: Table) -> Select[Any]:
    """``SELECT stream_id, version ... WHERE stream_id IN :ids``, built once per table (a
    reused statement skips SQLAlchemy's per-call construction and cache-key work)."""
    cached = _queries.get(versions)
    if cached is None:
        query: Select[Any] = select(versions.c.stream_id, versions.c.version).where(
            versions.c.stream_id.in_(bindparam("ids", expanding=True))
        )
        cached = _queries[versions] = query
    return cached


class SqlRebuild:
    """A rebuild of a :class:`SqlProjection` into shadow tables (a RebuildSession).

    It starts empty and is the only writer of its shadows, so it keeps the versions it
    applied in memory instead of reading them back for every batch."""

    def __init__(self, projection: SqlProjection, shadows: Mapping[str, Table]) -> None:
        self.projection = projection
        self.name = projection.name
        self._shadows = shadows
        self._versions: dict[str, int] = {}
        self._open = True

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        self._check_open()
        if events:
            with self.projection._transaction() as conn:
                changed = self.projection._apply(conn, self._shadows, events, self._versions)
            self._versions.update(changed)

    def finish(self) -> None:
        self._check_open()
        self._open = False
        try:
            swap(self.projection.engine, self.projection.tables, self._shadows)
        except SQLAlchemyError as exc:
            raise DeliveryFailed(f"{self.name}: swapping the rebuilt tables in: {exc}") from exc

    def abort(self) -> None:
        self._open = False
        drop_shadows(self.projection.engine, self._shadows)

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError(f"the rebuild of {self.name} is already finished or aborted")

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    inspect,
    select,
)

from eventfold import ConfigurationError, RecordedEvent, UnknownEventType
from eventfold.router import Rebuildable, TracksVersions
from eventfold.sql import Rows, SqlProjection, create_engine, sqlite_url, versions_table
from tests.contracts.target import CODEC, Observed, TargetContract, Tick, interleave, ticks

NAME = "ticks_view"


def declare() -> tuple[MetaData, Table]:
    metadata = MetaData()
    seen = Table(
        "ticks_seen",
        metadata,
        Column("stream_id", String(100), primary_key=True),
        Column("versions", Text, nullable=False),
        Column("last_n", Integer, nullable=False),
        Index("ix_ticks_seen_last_n", "last_n"),
    )
    versions_table(NAME, metadata)
    return metadata, seen


def on_tick(rows: Rows, event: Tick, recorded: RecordedEvent) -> None:
    row = rows.get("ticks_seen", {"stream_id": recorded.stream_id})
    before = row["versions"] + "," if row else ""
    rows.upsert(
        "ticks_seen",
        {"stream_id": recorded.stream_id, "versions": before + str(event.n), "last_n": event.n},
    )


def make(engine: Engine) -> tuple[SqlProjection, Table]:
    _, seen = declare()
    projection = SqlProjection(NAME, engine, CODEC, [seen], {Tick: on_tick})
    projection.create_tables()
    return projection, seen


def seen_rows(engine: Engine, table: Table) -> dict[str, list[int]]:
    with engine.connect() as conn:
        rows = conn.execute(select(table.c.stream_id, table.c.versions)).all()
    return {stream: [int(v) for v in versions.split(",")] for stream, versions in rows}


def version_rows(engine: Engine, projection: SqlProjection) -> list[tuple[str, int]]:
    versions = projection.tables[-1]
    with engine.connect() as conn:
        return sorted((s, int(v)) for s, v in conn.execute(select(versions)).all())


class TestSqlProjectionIsATarget(TargetContract):
    @pytest.fixture
    def made(self, engine: Engine) -> tuple[SqlProjection, Table]:
        return make(engine)

    @pytest.fixture
    def target(self, made: tuple[SqlProjection, Table]) -> SqlProjection:
        return made[0]

    @pytest.fixture
    def observed(self, engine: Engine, made: tuple[SqlProjection, Table]) -> Observed:
        return lambda: seen_rows(engine, made[1])


def test_it_tracks_versions_and_is_rebuildable(engine: Engine) -> None:
    projection, _ = make(engine)
    assert isinstance(projection, TracksVersions)
    assert isinstance(projection, Rebuildable)


def test_a_redelivered_batch_leaves_rows_and_versions_unchanged(engine: Engine) -> None:
    projection, seen = make(engine)
    batch = interleave(ticks("tick-a", 1, 3), ticks("tick-b", 1, 2))
    projection.apply(batch)
    rows, versions = seen_rows(engine, seen), version_rows(engine, projection)
    projection.apply(batch)
    assert seen_rows(engine, seen) == rows
    assert version_rows(engine, projection) == versions == [("tick-a", 3), ("tick-b", 2)]
    assert projection.applied_versions(["tick-a", "tick-b", "tick-c"]) == {
        "tick-a": 3,
        "tick-b": 2,
    }


def test_versions_a_filter_skipped_are_no_gap(engine: Engine) -> None:
    # A subscription filtering on event types hands over versions 1 and 3 of a stream.
    projection, seen = make(engine)
    projection.apply(ticks("tick-a", 1, 1))
    projection.apply(ticks("tick-a", 3, 3))
    assert seen_rows(engine, seen) == {"tick-a": [1, 3]}
    assert projection.applied_versions(["tick-a"]) == {"tick-a": 3}


def test_a_failing_handler_rolls_back_the_whole_batch(engine: Engine) -> None:
    def explode(rows: Rows, event: Tick, recorded: RecordedEvent) -> None:
        on_tick(rows, event, recorded)
        if event.n == 2:
            raise RuntimeError("boom")

    _, seen = declare()
    projection = SqlProjection(NAME, engine, CODEC, [seen], {Tick: explode})
    projection.create_tables()
    with pytest.raises(RuntimeError, match="boom"):
        projection.apply(ticks("tick-a", 1, 3))
    assert seen_rows(engine, seen) == {}
    assert projection.applied_versions(["tick-a"]) == {}


def test_unregistered_event_types_are_refused(engine: Engine) -> None:
    projection, _ = make(engine)
    stranger = RecordedEvent("tick-a", 1, "Stranger", b"{}", 1, {}, datetime.now(UTC))
    with pytest.raises(UnknownEventType):
        projection.apply([stranger])


def test_rebuild_fills_shadows_while_the_live_tables_serve_then_swaps(engine: Engine) -> None:
    projection, seen = make(engine)
    projection.apply(ticks("tick-a", 1, 2))
    session = projection.begin_rebuild()
    session.apply(interleave(ticks("tick-a", 1, 3), ticks("tick-b", 1, 1)))
    # the live projection keeps reading and writing its own tables meanwhile
    assert seen_rows(engine, seen) == {"tick-a": [1, 2]}
    projection.apply(ticks("tick-c", 1, 1))
    assert projection.applied_versions(["tick-a", "tick-c"]) == {"tick-a": 2, "tick-c": 1}
    session.finish()
    assert seen_rows(engine, seen) == {"tick-a": [1, 2, 3], "tick-b": [1]}
    assert projection.applied_versions(["tick-a", "tick-b", "tick-c"]) == {
        "tick-a": 3,
        "tick-b": 1,
    }
    names = set(inspect(engine).get_table_names())
    assert {"ticks_seen", f"{NAME}_versions"} <= names
    assert not any(n.endswith(("__shadow", "__old")) for n in names)
    assert "ix_ticks_seen_last_n" in {i["name"] for i in inspect(engine).get_indexes("ticks_seen")}
    # the live target goes on from the rebuilt versions
    projection.apply(ticks("tick-a", 1, 4))
    assert seen_rows(engine, seen)["tick-a"] == [1, 2, 3, 4]


def test_a_second_rebuild_works_after_the_first(engine: Engine) -> None:
    projection, seen = make(engine)
    for _ in range(2):
        session = projection.begin_rebuild()
        session.apply(ticks("tick-a", 1, 2))
        session.finish()
    assert seen_rows(engine, seen) == {"tick-a": [1, 2]}


def test_an_aborted_rebuild_leaves_the_live_tables(engine: Engine) -> None:
    projection, seen = make(engine)
    projection.apply(ticks("tick-a", 1, 1))
    session = projection.begin_rebuild()
    session.apply(ticks("tick-b", 1, 1))
    session.abort()
    assert seen_rows(engine, seen) == {"tick-a": [1]}
    assert not any(n.endswith("__shadow") for n in inspect(engine).get_table_names())
    with pytest.raises(RuntimeError, match="finished or aborted"):
        session.apply(ticks("tick-b", 2, 2))


def test_a_first_rebuild_creates_missing_live_tables(engine: Engine) -> None:
    _, seen = declare()
    projection = SqlProjection(NAME, engine, CODEC, [seen], {Tick: on_tick})
    session = projection.begin_rebuild()
    session.apply(ticks("tick-a", 1, 1))
    session.finish()
    assert seen_rows(engine, seen) == {"tick-a": [1]}


def test_typed_columns_round_trip(engine: Engine) -> None:
    metadata = MetaData()
    typed = Table(
        "typed",
        metadata,
        Column("id", String(50), primary_key=True),
        Column("at", DateTime, nullable=False),
        Column("amount", Numeric(10, 2), nullable=False),
        Column("note", String(50), nullable=False, default="none"),
    )
    versions_table("typed_view", metadata)
    at = datetime(2026, 5, 9, 12, 30)

    def handle(rows: Rows, event: Tick, recorded: RecordedEvent) -> None:
        rows.upsert("typed", {"id": recorded.stream_id, "at": at, "amount": Decimal("12.50")})

    projection = SqlProjection("typed_view", engine, CODEC, [typed], {Tick: handle})
    projection.create_tables()
    projection.apply(ticks("tick-a", 1, 1))
    with engine.connect() as conn:
        row = conn.execute(select(typed)).one()
    assert (row.at, row.amount, row.note) == (at, Decimal("12.50"), "none")


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        (lambda md, t, eng: SqlProjection("no versions", eng, CODEC, [t], {}), "SQL identifier"),
        (lambda md, t, eng: SqlProjection("other", eng, CODEC, [t], {}), "versions_table"),
        (lambda md, t, eng: SqlProjection(NAME, eng, CODEC, [], {}), "at least one table"),
        (lambda md, t, eng: SqlProjection(NAME, eng, CODEC, [t], {int: on_tick}), "int"),
        (
            lambda md, t, eng: SqlProjection(
                NAME,
                eng,
                CODEC,
                [Table("child", md, Column("id", Integer, ForeignKey("ticks_seen.last_n")))],
                {},
            ),
            "primary key",
        ),
    ],
)
def test_unworkable_declarations_are_refused(
    broken: Callable[[MetaData, Table, Engine], object], message: str, tmp_path: Path
) -> None:
    metadata, seen = declare()
    with pytest.raises(ConfigurationError, match=message):
        broken(metadata, seen, create_engine(sqlite_url(tmp_path / "unused.db")))


def test_foreign_keys_are_refused(tmp_path: Path) -> None:
    metadata, _ = declare()
    child = Table(
        "child",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("seen", String(100), ForeignKey("ticks_seen.stream_id")),
    )
    with pytest.raises(ConfigurationError, match="foreign keys"):
        SqlProjection(NAME, create_engine(sqlite_url(tmp_path / "u.db")), CODEC, [child], {})

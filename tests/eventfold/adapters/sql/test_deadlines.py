"""The SQL deadline index (migration ef0002) and the memory one behave alike: replace per
instance, due ones earliest first, per workflow, bounded."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventfold.sql import create_engine, migrate, sqlite_url
from eventfold.workflows import DeadlineIndex, MemoryDeadlineIndex, SqlDeadlineIndex

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DeadlineIndex]:
    if request.param == "memory":
        yield MemoryDeadlineIndex()
        return
    if request.param == "sqlite":
        url = sqlite_url(tmp_path / "q.db")
    else:
        url = request.getfixturevalue("mysql_url")
    engine = create_engine(url)
    migrate(engine)
    yield SqlDeadlineIndex(engine)
    engine.dispose()


def test_due_deadlines_come_earliest_first_per_workflow(index: DeadlineIndex) -> None:
    index.set("trip", "trip-2", {"ship_by": T0 + timedelta(hours=2)})
    index.set("trip", "trip-1", {"ship_by": T0 + timedelta(hours=1), "pay_by": T0})
    index.set("other", "other-1", {"x": T0})
    assert index.due("trip", T0 - timedelta(seconds=1), 10) == []
    assert index.due("trip", T0 + timedelta(hours=3), 10) == [
        ("trip-1", "pay_by", T0),
        ("trip-1", "ship_by", T0 + timedelta(hours=1)),
        ("trip-2", "ship_by", T0 + timedelta(hours=2)),
    ]
    assert len(index.due("trip", T0 + timedelta(hours=3), 2)) == 2


def test_set_replaces_an_instance_s_deadlines(index: DeadlineIndex) -> None:
    index.set("trip", "trip-1", {"ship_by": T0, "pay_by": T0})
    index.set("trip", "trip-1", {"ship_by": T0 + timedelta(hours=1)})
    index.set("trip", "trip-1", {"ship_by": T0 + timedelta(hours=1)})  # unchanged: no-op
    assert index.due("trip", T0 + timedelta(days=1), 10) == [
        ("trip-1", "ship_by", T0 + timedelta(hours=1))
    ]
    index.set("trip", "trip-1", {})
    assert index.due("trip", T0 + timedelta(days=1), 10) == []

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import sqlite

from eventfold.adapters.sql.driver import bind_processor


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 11, 22, 23, 8, 32, 605265),
        datetime(2026, 11, 22, 23, 8, 32),
        datetime(999, 1, 1),
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, 9, tzinfo=timezone(timedelta(hours=9))),
        None,
    ],
)
def test_the_fast_sqlite_datetime_writes_what_sqlalchemy_writes(value: datetime | None) -> None:
    dialect = sqlite.dialect()
    general = DateTime().dialect_impl(dialect).bind_processor(dialect)
    fast = bind_processor(DateTime(), dialect)
    assert general is not None
    assert fast is not None
    assert fast(value) == general(value)

"""The check every reference service's migrations pass: run on an empty database they make
exactly the query tables its projection declares (no more, no less, same columns), and run
again they do nothing."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, MetaData

from eventfold.sql import migrate, schema_differences
from eventfold.web import Service


def assert_migrations_make_exactly(
    engine: Engine, service: Service, metadata: MetaData, revisions: Sequence[str]
) -> None:
    """``service``'s migrations apply ``revisions`` on its branch (named after it), leave
    the schema ``metadata`` declares, and are then up to date."""
    assert service.migrations is not None, f"{service.name} declares no migrations folder"
    applied = migrate(engine, service.migrations)

    assert [a.revision for a in applied if a.branch == service.name] == list(revisions)
    assert schema_differences(engine, metadata) == []
    assert migrate(engine, service.migrations) == []

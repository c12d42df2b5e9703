"""The check every reference service's migrations pass: run on an empty database they make
exactly the query tables its projection declares (no more, no less, same columns), and run
again they do nothing."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, MetaData

from eventfold.sql import migrate, schema_differences
from eventfold.web import Service


def revisions_in(folder: Path) -> list[str]:
    """The revision ids of the files in a migrations folder, in file-name order (the
    services name their files ``<branch><NNNN>_<what>.py``)."""
    found = [
        re.search(r'^revision = "([^"]+)"$', path.read_text(), re.M)
        for path in sorted(folder.glob("*.py"))
    ]
    return [match.group(1) for match in found if match]


def assert_migrations_make_exactly(
    engine: Engine, service: Service, metadata: MetaData, revisions: Sequence[str] | None = None
) -> None:
    """``service``'s migrations apply ``revisions`` (default: every revision file of its
    folder, in order) on its branch (named after it), leave the schema ``metadata``
    declares, and are then up to date."""
    assert service.migrations is not None, f"{service.name} declares no migrations folder"
    if revisions is None:
        revisions = revisions_in(Path(service.migrations))
        assert revisions, f"no revision files in {service.migrations}"
    applied = migrate(engine, service.migrations)

    assert [a.revision for a in applied if a.branch == service.name] == list(revisions)
    assert schema_differences(engine, metadata) == []
    assert migrate(engine, service.migrations) == []

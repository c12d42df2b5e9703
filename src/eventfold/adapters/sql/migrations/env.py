"""Alembic environment of eventfold's migrations: always online, on the connection that
:func:`eventfold.adapters.sql.migrate.migrate` passes in ``config.attributes``,
with the version table of the branch being upgraded, reporting each applied revision."""

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo
from alembic.script import Script

from eventfold.adapters.sql.migrate import EVENTFOLD_BRANCH, VERSION_TABLE, AppliedRevision

attributes = context.config.attributes
connection = attributes["connection"]
applied: list[AppliedRevision] = attributes.get("applied", [])
branch: str = attributes.get("branch", EVENTFOLD_BRANCH)


def record(
    ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]
) -> None:
    """Called by Alembic (with keywords) after each revision it applied."""
    if step.is_upgrade and step.up_revision_id is not None:
        script = step.up_revision
        message = (script.doc or "").strip() if isinstance(script, Script) else ""
        applied.append(AppliedRevision(branch, step.up_revision_id, message))


context.configure(
    connection=connection,
    version_table=attributes.get("version_table", VERSION_TABLE),
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTERs via table copies
    on_version_apply=record,
)
with context.begin_transaction():
    context.run_migrations()

"""Run Alembic migrations programmatically at startup: eventfold's own tables (the effects
ledger) plus any service's migrations, all from code — no alembic.ini.

Design: one branch, one version table. eventfold's own revisions (``ef0001`` ...) and each
service's folder of revisions are independent branches, and each branch records what it
applied in a version table of its own: ``eventfold_schema_version`` for eventfold's tables,
``eventfold_schema_version_<label>`` for the service branch labelled ``<label>``. Each
branch is upgraded to its head(s) by its own Alembic run that sees only that branch's
folder, so a database that holds the revisions of services this process does not load
never makes Alembic look for them ("Can't locate revision"): :func:`migrate` can be called
with any combination of folders, in any order, as often as wanted, and each call only
applies what is missing. eventfold's branch always runs first, so a service's revisions may
rely on eventfold's tables without naming them (``depends_on`` across folders is not
supported: each run only knows one folder).

A service's folder holds plain Alembic revision files forming ONE branch: its base revision
has ``down_revision = None`` and ``branch_labels = ("<label>",)`` (a SQL identifier, e.g.
the service's name). Write a revision by hand (see ``migrations/versions/ef0001_...py``)
or with ``alembic.command.revision(alembic_config(engine, folder), "...", head="<label>@head")``.

Every branch runs on one connection: on SQLite in one ``BEGIN IMMEDIATE`` transaction (DDL is
transactional there, so a failed revision leaves nothing half done); on MySQL/MariaDB, where
DDL commits by itself, under the named lock ``eventfold_migrate`` so that processes starting
together (``eventfold run`` and ``eventfold worker``) apply each revision once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, MetaData, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.types import TypeEngine

from eventfold.adapters.sql.engine import write_transaction
from eventfold.errors import ConfigurationError, StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
EVENTFOLD_BRANCH = "eventfold"
VERSION_TABLE = "eventfold_schema_version"
"""eventfold's own branch; a service branch ``<label>`` uses ``<VERSION_TABLE>_<label>``."""
MYSQL_LOCK = "eventfold_migrate"
MYSQL_LOCK_SECONDS = 120
_LABEL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_LABEL = 64 - len(VERSION_TABLE) - 1  # MySQL table names have at most 64 characters


@dataclass(frozen=True)
class AppliedRevision:
    """One revision :func:`migrate` applied: its branch, id and message."""

    branch: str
    revision: str
    message: str

    def __str__(self) -> str:
        message = self.message.removeprefix(f"{self.branch}: ")  # "<label>: ..." docstrings
        return f"{self.branch}: {self.revision} {message}".rstrip()


@dataclass(frozen=True)
class Branch:
    """A folder of revisions forming one branch, and the version table that tracks it."""

    label: str
    folder: Path

    @property
    def version_table(self) -> str:
        label = self.label
        return VERSION_TABLE if label == EVENTFOLD_BRANCH else f"{VERSION_TABLE}_{label}"


def alembic_config(engine: Engine, version_location: Path | str | None = None) -> Config:
    """An Alembic Config built in code for ONE branch: eventfold's own revisions, or the
    folder ``version_location`` of a service's revisions (e.g. to write a new revision with
    ``alembic.command.revision``)."""
    config = _config(MIGRATIONS / "versions" if version_location is None else version_location)
    config.attributes["engine"] = engine
    return config


def _config(folder: Path | str) -> Config:
    path = Path(folder)
    if not path.is_dir():
        raise ConfigurationError(
            f"migration folder {path} does not exist: create it, or fix the service's "
            "`migrations=` path"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(path))
    return config


def branch_of(folder: Path | str) -> Branch:
    """The branch the revisions in ``folder`` form (checked: one base, one SQL-identifier
    label)."""
    path = Path(folder)
    config = _config(path)
    try:
        script = ScriptDirectory.from_config(config)
        bases = script.get_bases()
        labels = [label for base in bases for label in script.get_revision(base).branch_labels]
    except (CommandError, RevisionError) as exc:
        raise ConfigurationError(f"migration folder {path}: {exc}") from exc
    except KeyError as exc:  # Alembic's revision map: a depends_on it cannot find
        raise ConfigurationError(
            f"migration folder {path}: a revision depends on {exc}, which is not in this "
            "folder; each folder is a branch of its own (eventfold's tables are always "
            "migrated first, so no depends_on on them is needed): remove that depends_on"
        ) from exc
    if len(bases) != 1 or len(labels) != 1:
        raise ConfigurationError(
            f"migration folder {path} must hold one branch: one base revision "
            f'(down_revision = None) with one label (branch_labels = ("<service>",)); '
            f"found {len(bases)} base revision(s) and labels {sorted(labels)}"
        )
    [label] = labels
    if not _LABEL.match(label) or len(label) > _MAX_LABEL:
        raise ConfigurationError(
            f"migration folder {path}: branch label {label!r} must be a SQL identifier "
            f"(letters, digits, _) of at most {_MAX_LABEL} characters (it names the version "
            f"table {VERSION_TABLE}_<label>)"
        )
    return Branch(label, path)


def branches(*version_locations: Path | str) -> list[Branch]:
    """eventfold's own branch, then the branch of each folder (duplicates once)."""
    found = [Branch(EVENTFOLD_BRANCH, MIGRATIONS / "versions")]
    for location in version_locations:
        branch = branch_of(location)
        same = [b for b in found if b.label == branch.label]
        if same and same[0].folder.resolve() == branch.folder.resolve():
            continue
        if same:
            raise ConfigurationError(
                f"migration folders {same[0].folder} and {branch.folder} both use the branch "
                f"label {branch.label!r}; give each service's revisions a label of its own"
            )
        found.append(branch)
    return found


def migrate(engine: Engine, *version_locations: Path | str) -> list[AppliedRevision]:
    """Upgrade eventfold's tables and the branch of every given folder to their heads, each
    tracked in its own version table; returns what it applied (nothing when up to date)."""
    wanted = branches(*version_locations)
    applied: list[AppliedRevision] = []
    try:
        with write_transaction(engine) as conn, _mysql_lock(conn):
            for branch in wanted:
                applied += _upgrade(engine, conn, branch)
    except (CommandError, RevisionError) as exc:
        raise ConfigurationError(
            f"migrations cannot run: {exc} (each folder is a branch of its own; revisions "
            "cannot depend on another folder's)"
        ) from exc
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"migrating the query-model database failed: {exc}") from exc
    return applied


def _upgrade(engine: Engine, conn: Connection, branch: Branch) -> list[AppliedRevision]:
    config = alembic_config(engine, branch.folder)
    applied: list[AppliedRevision] = []
    config.attributes.update(
        connection=conn, version_table=branch.version_table, applied=applied, branch=branch.label
    )
    command.upgrade(config, "heads")
    return applied


@contextmanager
def _mysql_lock(conn: Connection) -> Iterator[None]:
    """On MySQL/MariaDB, hold the named lock that serializes migrations across processes."""
    if conn.dialect.name not in ("mysql", "mariadb"):
        yield
        return
    got = conn.execute(
        text("SELECT GET_LOCK(:name, :seconds)"),
        {"name": MYSQL_LOCK, "seconds": MYSQL_LOCK_SECONDS},
    ).scalar()
    if got != 1:
        raise StoreUnavailable(
            f"another process has been migrating the query-model database for over "
            f"{MYSQL_LOCK_SECONDS} s (lock {MYSQL_LOCK!r}); wait for it, or end it"
        )
    try:
        yield
    finally:
        conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": MYSQL_LOCK})


def schema_differences(engine: Engine, metadata: MetaData) -> list[str]:
    """How the database's tables differ from those declared in ``metadata`` (tables,
    columns, types, nullability, indexes), one line each naming the table and column; an
    empty list when the migrations made exactly the declared schema. Tables the metadata
    does not declare (other services', eventfold's) are ignored."""
    declared = set(metadata.tables)

    def include_name(name: str | None, kind: str, _: Any) -> bool:
        return kind != "table" or name in declared

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": _compare_type, "include_name": include_name}
        )
        found = compare_metadata(context, metadata)
    return [line for diff in found for line in _describe(diff)]


def _compare_type(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Alembic's type comparison, plus the fractional seconds of MySQL times (``fsp``),
    which it ignores: a DATETIME without microseconds would silently truncate them."""
    declared = metadata_type.dialect_impl(context.dialect)
    declared_fsp = getattr(declared, "fsp", None) or None
    found_fsp = getattr(inspected_type, "fsp", None) or None
    if declared_fsp != found_fsp:
        return True
    return None  # Alembic's own comparison decides


def _describe(diff: Any) -> list[str]:
    """One line per difference reported by Alembic's ``compare_metadata``."""
    if isinstance(diff, list):
        return [line for item in diff for line in _describe(item)]
    kind = diff[0]
    if kind == "add_table":
        return [f"table {diff[1].name}: declared, but no migration creates it"]
    if kind == "remove_table":
        return [f"table {diff[1].name}: in the database, but not declared"]
    if kind == "add_column":
        return [f"column {diff[2]}.{diff[3].name}: declared, but no migration creates it"]
    if kind == "remove_column":
        return [f"column {diff[2]}.{diff[3].name}: in the database, but not declared"]
    if kind in ("add_index", "remove_index"):
        index = diff[1]
        where = (
            "declared, but no migration creates it"
            if kind == "add_index"
            else "in the database, but not declared"
        )
        return [f"index {index.name} on {index.table.name}: {where}"]
    if kind.startswith("modify_"):
        _, _, table, column, _, database, declared_value = diff
        what = kind.removeprefix("modify_")
        return [
            f"column {table}.{column}: {what} is {database!r} in the database, "
            f"{declared_value!r} declared"
        ]
    return [f"{kind}: {diff[1:]!r}"]

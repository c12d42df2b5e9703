"""Run Alembic migrations programmatically at startup: eventfold's own tables (the effects
ledger) plus any service's migrations, all from code — no alembic.ini.

A service ships its migrations as a plain folder of Alembic revision files forming its own
branch (``down_revision = None``, ``branch_labels = ("reservations",)``, and
``depends_on = "ef0001"`` when it needs eventfold's tables first), and passes that folder
to :func:`migrate`. Every branch is upgraded to its head; the applied revisions are kept in
the table ``eventfold_schema_version``. Write a revision with
``alembic revision --head base --branch-label <service> --version-path <folder>``
or by hand (see ``migrations/versions/ef0001_effects_ledger.py``).
"""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from eventfold.errors import ConfigurationError, StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "eventfold_schema_version"


def alembic_config(engine: Engine, *version_locations: Path | str) -> Config:
    """An Alembic Config built in code: eventfold's environment, its own revisions plus
    ``version_locations`` (folders of the services' revisions)."""
    folders = [MIGRATIONS / "versions", *(Path(v) for v in version_locations)]
    missing = [str(f) for f in folders if not f.is_dir()]
    if missing:
        raise ConfigurationError(f"migration folder(s) {', '.join(missing)} do not exist")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", os.pathsep.join(str(f) for f in folders))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine, *version_locations: Path | str) -> None:
    """Upgrade eventfold's tables and every given service migration folder to their heads."""
    config = alembic_config(engine, *version_locations)
    try:
        with engine.connect() as conn:
            conn.execution_options(eventfold_write=True)
            config.attributes["connection"] = conn
            command.upgrade(config, "heads")
            conn.commit()
    except CommandError as exc:
        raise ConfigurationError(f"migrations cannot run: {exc}") from exc
    except SQLAlchemyError as exc:
        raise StoreUnavailable(f"migrating the query-model database failed: {exc}") from exc

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect

from eventfold import ConfigurationError
from eventfold.sql import migrate

SERVICE_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "svc0001"
down_revision = None
branch_labels = ("svc",)
depends_on = "ef0001"


def upgrade():
    op.create_table("svc_rows", sa.Column("id", sa.String(20), primary_key=True))


def downgrade():
    op.drop_table("svc_rows")
"""


def test_migrate_creates_eventfold_tables_and_is_repeatable(engine: Engine) -> None:
    migrate(engine)
    migrate(engine)
    names = set(inspect(engine).get_table_names())
    assert {"eventfold_effects", "eventfold_schema_version"} <= names


def test_a_service_brings_its_own_revision_folder(engine: Engine, tmp_path: Path) -> None:
    folder = tmp_path / "svc_migrations"
    folder.mkdir()
    (folder / "svc0001_rows.py").write_text(SERVICE_REVISION)
    migrate(engine, folder)
    names = set(inspect(engine).get_table_names())
    assert {"eventfold_effects", "svc_rows"} <= names


def test_a_missing_folder_is_a_configuration_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="do not exist"):
        migrate(engine, tmp_path / "nowhere")

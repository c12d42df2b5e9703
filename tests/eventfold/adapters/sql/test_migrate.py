"""The migration runner: eventfold's branch plus independent service branches, each with its
own version table, upgraded together or one at a time, in any order, on SQLite and MariaDB."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import Column, Engine, Index, Integer, MetaData, String, Table, inspect, text

from eventfold import ConfigurationError
from eventfold.sql import AppliedRevision, create_engine, migrate, schema_differences

REVISION = '''"""{message}"""
import sqlalchemy as sa
from alembic import op

revision = "{revision}"
down_revision = {down}
branch_labels = {labels}
depends_on = {depends}


def upgrade():
    {upgrade}


def downgrade():
    pass
'''


def revision_file(
    folder: Path,
    revision: str,
    upgrade: str,
    *,
    down: str | None = None,
    label: str | None = None,
    depends: str | None = None,
) -> None:
    folder.mkdir(exist_ok=True)
    text_ = REVISION.format(
        message=f"{revision} of {folder.name}",
        revision=revision,
        down=repr(down),
        labels=repr((label,) if label else None),
        depends=repr(depends),
        upgrade=upgrade,
    )
    (folder / f"{revision}_rev.py").write_text(text_)


def service_folder(tmp_path: Path, label: str) -> Path:
    """A service branch ``label`` creating the table ``<label>_rows``."""
    folder = tmp_path / f"{label}_migrations"
    create = f'op.create_table("{label}_rows", sa.Column("id", sa.String(20), primary_key=True))'
    revision_file(folder, f"{label}0001", create, label=label)
    return folder


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def ids(applied: list[AppliedRevision]) -> list[str]:
    return [a.revision for a in applied]


def test_a_fresh_database_gets_eventfold_tables_and_a_rerun_is_a_no_op(engine: Engine) -> None:
    first = migrate(engine)
    second = migrate(engine)

    assert first == [
        AppliedRevision("eventfold", "ef0001", "eventfold: the effects ledger of reactions."),
        AppliedRevision("eventfold", "ef0002", "eventfold: the deadlines of workflow instances."),
    ]
    assert second == []
    assert {"eventfold_effects", "eventfold_deadlines", "eventfold_schema_version"} <= tables(
        engine
    )


def test_each_service_branch_has_its_own_version_table(engine: Engine, tmp_path: Path) -> None:
    applied = migrate(engine, service_folder(tmp_path, "alpha"))

    assert [(a.branch, a.revision) for a in applied] == [
        ("eventfold", "ef0001"),
        ("eventfold", "ef0002"),
        ("alpha", "alpha0001"),
    ]
    assert str(applied[2]) == "alpha: alpha0001 alpha0001 of alpha_migrations"
    assert {"alpha_rows", "eventfold_schema_version_alpha"} <= tables(engine)
    with engine.connect() as conn:
        own = conn.execute(text("SELECT version_num FROM eventfold_schema_version")).all()
    assert own == [("ef0002",)]


def test_services_migrated_separately_then_together_in_any_order(
    engine: Engine, tmp_path: Path
) -> None:
    alpha, beta = service_folder(tmp_path, "alpha"), service_folder(tmp_path, "beta")

    assert ids(migrate(engine, beta)) == ["ef0001", "ef0002", "beta0001"]
    assert ids(migrate(engine)) == []  # a database with branches it does not know
    assert ids(migrate(engine, alpha)) == ["alpha0001"]
    assert ids(migrate(engine, alpha, beta)) == []
    assert ids(migrate(engine, beta, alpha)) == []
    assert ids(migrate(engine, beta)) == []
    assert {"alpha_rows", "beta_rows", "eventfold_effects"} <= tables(engine)


def test_a_new_revision_is_the_only_thing_applied(engine: Engine, tmp_path: Path) -> None:
    alpha, beta = service_folder(tmp_path, "alpha"), service_folder(tmp_path, "beta")
    migrate(engine, alpha, beta)
    add = 'op.add_column("alpha_rows", sa.Column("note", sa.String(50), nullable=True))'
    revision_file(alpha, "alpha0002", add, down="alpha0001")

    assert ids(migrate(engine, beta, alpha)) == ["alpha0002"]
    assert ids(migrate(engine, alpha, beta)) == []
    columns = {c["name"] for c in inspect(engine).get_columns("alpha_rows")}
    assert columns == {"id", "note"}


def test_processes_migrating_together_apply_each_revision_once(
    engine: Engine, tmp_path: Path
) -> None:
    folder = service_folder(tmp_path, "alpha")
    url = engine.url.render_as_string(hide_password=False)
    engines = [create_engine(url) for _ in range(3)]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def run(other: Engine) -> None:
        try:
            results.append(ids(migrate(other, folder)))
        except BaseException as exc:  # reported by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for other in engines:
        other.dispose()

    assert errors == []
    assert sorted(results) == [[], [], ["ef0001", "ef0002", "alpha0001"]]


def test_a_failing_revision_leaves_nothing_half_done_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'q.db'}")
    folder = service_folder(tmp_path, "alpha")
    revision_file(folder, "alpha0002", 'raise RuntimeError("broken revision")', down="alpha0001")

    with pytest.raises(RuntimeError, match="broken revision"):
        migrate(engine, folder)

    assert tables(engine) == set()
    engine.dispose()


def test_a_missing_folder_is_a_configuration_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="nowhere does not exist"):
        migrate(engine, tmp_path / "nowhere")


def test_a_folder_without_a_branch_label_is_a_configuration_error(
    engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "unlabelled"
    revision_file(folder, "u0001", "pass")
    with pytest.raises(ConfigurationError, match=r"one branch.*labels \[\]"):
        migrate(engine, folder)


def test_two_folders_with_one_label_are_a_configuration_error(
    engine: Engine, tmp_path: Path
) -> None:
    first = service_folder(tmp_path, "alpha")
    second = tmp_path / "other"
    revision_file(second, "other0001", "pass", label="alpha")
    with pytest.raises(ConfigurationError, match="both use the branch label 'alpha'"):
        migrate(engine, first, second)
    assert ids(migrate(engine, first, first)) == ["ef0001", "ef0002", "alpha0001"]


def test_a_revision_depending_on_another_folder_is_a_configuration_error(
    engine: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "dependent"
    revision_file(folder, "d0001", "pass", label="dependent", depends="ef0001")
    with pytest.raises(ConfigurationError, match="ef0001"):
        migrate(engine, folder)


def test_schema_differences_name_each_table_and_column_the_migrations_miss(
    engine: Engine, tmp_path: Path
) -> None:
    migrate(engine, service_folder(tmp_path, "alpha"))
    declared = MetaData()
    Table("alpha_rows", declared, Column("id", String(20), primary_key=True))
    assert schema_differences(engine, declared) == []  # other tables are not its business

    rows = Table(
        "alpha_rows",
        MetaData(),
        Column("id", String(20), primary_key=True),
        Column("note", String(50), nullable=True),
        Column("count", Integer, nullable=False),
        Index("ix_alpha_note", "note"),
    )
    Table("alpha_more", rows.metadata, Column("id", String(20), primary_key=True))

    assert sorted(schema_differences(engine, rows.metadata)) == [
        "column alpha_rows.count: declared, but no migration creates it",
        "column alpha_rows.note: declared, but no migration creates it",
        "index ix_alpha_note on alpha_rows: declared, but no migration creates it",
        "table alpha_more: declared, but no migration creates it",
    ]

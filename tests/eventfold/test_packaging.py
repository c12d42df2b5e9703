"""eventfold is a toolkit without its demo: the core wheel installs with no dependency at
all, every integration is an extra, and a facade whose extra is missing says which
``pip install`` fixes it.

The clean-venv test builds the wheel from this checkout (hatchling, no build isolation:
nothing is downloaded), installs it with ``--no-deps`` into a fresh ``python -m venv``
and runs a script there: the integrations' libraries are absent, a decider runs through
the command handler on the embedded SQLite store, and each facade fails with its extra's
name.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from eventfold.entry.extras import EXTRAS

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirement_name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _distributions_of(extra: str) -> set[str]:
    """The PyPI names an extra brings, with the eventfold[...] extras it includes expanded."""
    names: set[str] = set()
    for requirement in PYPROJECT["project"]["optional-dependencies"][extra]:
        included = re.fullmatch(r"eventfold\[([a-z,]+)\]", requirement)
        if included:
            for other in included.group(1).split(","):
                names |= _distributions_of(other)
        else:
            names.add(_requirement_name(requirement))
    return names


def test_the_core_has_no_dependency_and_every_integration_is_an_extra() -> None:
    project = PYPROJECT["project"]
    assert project["dependencies"] == []
    extras = set(project["optional-dependencies"])
    assert {"http", "sql", "mysql", "protobuf", "cli", "aws", "lambda", "all"} <= extras
    assert _distributions_of("all") >= set().union(*(_distributions_of(e) for e in EXTRAS))
    assert "eventfold.services" not in project.get("entry-points", {})


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_the_extras_table_names_the_libraries_pyproject_installs(extra: str) -> None:
    """What a facade checks (eventfold.entry.extras) is what the extra installs: each module
    it checks comes from a distribution of the extra, and each distribution of the extra
    is checked."""
    provided_by = importlib.metadata.packages_distributions()
    checked = {
        _requirement_name(dist)
        for module in EXTRAS[extra]
        for dist in provided_by[module.split(".")[0]]
        if module.split(".")[0] != "google" or dist.lower() == "protobuf"
    }
    declared = _distributions_of(extra)
    assert checked <= declared
    # An extra that includes another checks that one by one module of it (sqlalchemy for
    # [sql], boto3 for [aws]...): every distribution it declares itself is checked.
    own = {
        _requirement_name(r)
        for r in PYPROJECT["project"]["optional-dependencies"][extra]
        if not r.startswith("eventfold[")
    }
    assert own <= checked


CLEAN_VENV_SCRIPT = r"""
import importlib.util, json, subprocess, sys, tempfile
from dataclasses import dataclass
from pathlib import Path

def importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False

report = {"importable": [m for m in (
    "fastapi", "sqlalchemy", "boto3", "google.protobuf", "pydantic", "structlog", "typer",
    "reservations", "restaurant", "catalog") if importable(m)]}

from eventfold import CommandHandler, Decider, EventTypes, JsonCodec, RuleViolated
from eventfold import SqliteEventStore

@dataclass(frozen=True)
class Deposit:
    amount: int

@dataclass(frozen=True)
class Deposited:
    amount: int

def decide(command, balance):
    if command.amount < 1:
        raise RuleViolated("deposit at least 1")
    return [Deposited(command.amount)]

account = Decider("account", 0, lambda balance, event: balance + event.amount, decide)
types = EventTypes()
types.register(Deposited)
with tempfile.TemporaryDirectory() as home:
    handler = CommandHandler(SqliteEventStore(Path(home) / "events.db"), JsonCodec(types))
    handler.execute(account, "account-1", Deposit(5))
    outcome = handler.execute(account, "account-1", Deposit(7))
    report["versions"] = dict(outcome.commit.versions)
    try:
        handler.execute(account, "account-1", Deposit(0))
    except RuleViolated as refused:
        report["refused"] = str(refused)

import eventfold.router, eventfold.errors
from eventfold.testing import spec
report["spec"] = spec(account).given(Deposited(2)).when(Deposit(3)).then(Deposited(3))

report["facades"] = {}
for facade in ("eventfold.web", "eventfold.sql", "eventfold.targets", "eventfold.codecs",
               "eventfold.aws"):
    try:
        importlib.import_module(facade)
        report["facades"][facade] = "imported"
    except ImportError as missing:
        report["facades"][facade] = str(missing)
from eventfold.testing import TokenIssuer
try:
    TokenIssuer()
except ImportError as missing:
    report["facades"]["eventfold.testing.TokenIssuer"] = str(missing)

command = subprocess.run([str(Path(sys.executable).parent / "eventfold"), "--help"],
                         capture_output=True, text=True)
report["cli"] = [command.returncode, command.stderr.strip()]
print(json.dumps(report))
"""


@pytest.mark.slow
def test_the_core_wheel_runs_a_decider_in_a_clean_venv_without_any_integration(
    tmp_path: Path,
) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "dist"), str(ROOT)],
        check=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("eventfold-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [
            line
            for line in archive.read(metadata).decode().splitlines()
            if line.startswith("Requires-Dist:") and "extra ==" not in line
        ]
        entry_points = next(
            archive.read(n).decode()
            for n in archive.namelist()
            if n.endswith(".dist-info/entry_points.txt")
        )
    assert tops == {"eventfold", wheel.name.removesuffix("-py3-none-any.whl") + ".dist-info"}
    assert requires == []  # installs nothing else unless an extra is asked for
    assert "eventfold.services" not in entry_points

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
         "--no-deps", "--no-index", str(wheel)],
        check=True,
    )  # fmt: skip
    run = subprocess.run(
        [str(python), "-c", CLEAN_VENV_SCRIPT],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout: nothing importable from here
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)

    assert report["importable"] == []
    assert report["versions"] == {"account-1": 2}
    assert report["refused"] == "deposit at least 1"
    assert report["spec"] == 5
    assert report["facades"] == {
        "eventfold.web": _missing("eventfold.web", "http"),
        "eventfold.sql": _missing("eventfold.sql", "sql"),
        "eventfold.targets": _missing("eventfold.targets", "http"),
        "eventfold.codecs": _missing("eventfold.codecs", "protobuf"),
        "eventfold.aws": _missing("eventfold.aws", "aws"),
        "eventfold.testing.TokenIssuer": _missing("eventfold.testing.TokenIssuer", "http"),
    }
    returncode, stderr = report["cli"]
    assert returncode != 0
    assert stderr.startswith("eventfold: the eventfold command needs ")
    assert stderr.endswith("pip install 'eventfold[cli]'")


def _missing(user: str, extra: str) -> str:
    modules = ", ".join(sorted(set(EXTRAS[extra])))
    return f"{user} needs {modules}, not installed here: pip install 'eventfold[{extra}]'"


@pytest.mark.slow
def test_the_reference_services_build_as_their_own_project(tmp_path: Path) -> None:
    """examples/ builds a wheel of its own: the three services, their generated protobuf
    modules (its build hook), their eventfold.services entry points, eventfold[all]."""
    # A copy: the build hook writes the *_pb2 modules beside the .proto files, and other
    # tests (and the processes they start) import the checkout's.
    project = tmp_path / "examples"
    shutil.copytree(
        ROOT / "examples", project, ignore=shutil.ignore_patterns("__pycache__", "*_pb2.py*")
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "--wheel-dir", str(tmp_path / "dist"), str(project)],
        check=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("eventfold_examples-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = archive.read(f"{info}/METADATA").decode()
        entry_points = archive.read(f"{info}/entry_points.txt").decode()

    assert {name.split("/")[0] for name in names} == {"reservations", "restaurant", "catalog", info}
    assert "reservations/proto/eventfold/reservations/v1/events_pb2.py" in names
    assert "reservations/migrations/versions/reservations0001_query_tables.py" in names
    assert "Requires-Dist: eventfold[all]" in metadata
    assert "[eventfold.services]" in entry_points
    for service in ("reservations", "restaurant", "catalog"):
        assert f"{service} = {service}.service:service" in entry_points

"""``eventfold events`` and the CLI's one-line errors, through typer's CliRunner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventfold import CommandHandler, ConfigurationError, EventData, SqliteEventStore, StreamWrite
from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app
from eventfold.web import Service
from tests.eventfold.entry.counters import Add, codec, counter, service


def only_counters(names: Sequence[str]) -> list[Service]:
    return [service]


def broken_services(names: Sequence[str]) -> list[Service]:
    raise ConfigurationError("no installed service named nope; installed: counters")


def crashing_services(names: Sequence[str]) -> list[Service]:
    raise ZeroDivisionError("division by zero")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data folder whose store holds counter-a (versions 1, 2) and a stream of a
    category no service owns."""
    store = SqliteEventStore(tmp_path / "eventfold.db")
    handler = CommandHandler(store, codec)
    handler.execute(counter, "counter-a", Add(2))
    handler.execute(counter, "counter-a", Add(3))
    store.append(StreamWrite("orphan-1", 0, [EventData("Raw", b"\x00\x01")], b"{}", "orphan/1"))
    store.close()
    return tmp_path


def invoke(home: Path, *args: str, loader=only_counters, **environ: str):  # type: ignore[no-untyped-def]
    context = CliContext(environ={"EVENTFOLD_HOME": str(home), **environ}, load_services=loader)
    return CliRunner().invoke(app, list(args), obj=context)


def assert_one_line_error(result, code: int, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == code, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]
    assert "Traceback" not in result.output


def test_events_as_json_lines_decoded_by_the_owning_service(home: Path) -> None:
    result = invoke(home, "events", "counter-a", "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["version"], r["type"], r["payload"]) for r in records] == [
        (1, "Added", {"amount": 2}),
        (2, "Added", {"amount": 3}),
    ]
    assert all(r["stream_id"] == "counter-a" and r["recorded_at"] for r in records)


def test_events_limit_keeps_the_latest(home: Path) -> None:
    result = invoke(home, "events", "counter-a", "--json", "--limit", "1")
    assert result.exit_code == 0, result.output
    assert [json.loads(line)["version"] for line in result.stdout.splitlines()] == [2]


def test_events_as_a_table(home: Path) -> None:
    result = invoke(home, "events", "counter-a")
    assert result.exit_code == 0, result.output
    assert "Added" in result.stdout
    assert '{"amount": 3}' in result.stdout


def test_events_of_a_category_no_service_owns_show_the_stored_bytes(home: Path) -> None:
    result = invoke(home, "events", "orphan-1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["payload"] == {"base64": "AAE="}


def test_unknown_stream_is_one_line_and_exit_1(home: Path) -> None:
    assert_one_line_error(invoke(home, "events", "counter-zzz"), 1, "'counter-zzz'", "check")


def test_missing_store_is_one_line_naming_eventfold_home(tmp_path: Path) -> None:
    result = invoke(tmp_path / "empty", "events", "counter-a")
    assert_one_line_error(result, 1, "EVENTFOLD_HOME")
    assert not (tmp_path / "empty").exists()


def test_bad_setting_is_one_line_naming_the_variable(home: Path) -> None:
    result = invoke(home, "events", "counter-a", EVENTFOLD_DURABILITY="fast")
    assert_one_line_error(result, 1, "EVENTFOLD_DURABILITY='fast'", "full")


def test_an_eventfold_error_is_one_line(home: Path) -> None:
    result = invoke(home, "events", "counter-a", loader=broken_services)
    assert_one_line_error(result, 1, "no installed service named nope")


def test_an_unexpected_error_is_one_line_unless_traceback_is_asked(home: Path) -> None:
    result = invoke(home, "events", "counter-a", loader=crashing_services)
    assert_one_line_error(result, 1, "ZeroDivisionError", "--traceback")
    shown = invoke(home, "--traceback", "events", "counter-a", loader=crashing_services)
    assert isinstance(shown.exception, ZeroDivisionError)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["events"], ["Missing argument", "eventfold events --help"]),
        (["nope"], ["No such command", "eventfold --help"]),
        (["events", "x", "--nope"], ["No such option", "--help"]),
        (["--nope"], ["No such option", "eventfold --help"]),
    ],
)
def test_a_command_line_that_does_not_parse_is_one_line_and_exit_2(
    home: Path, args: list[str], words: list[str]
) -> None:
    assert_one_line_error(invoke(home, *args), 2, *words)


def test_a_reader_that_stops_early_is_not_reported_as_a_bug(tmp_path: Path) -> None:
    """`eventfold events ... --json | head -1`: far more output than a pipe holds."""
    store = SqliteEventStore(tmp_path / "eventfold.db", durability="off")
    for n in range(20):
        events = [EventData("Raw", b'{"n": 1}') for _ in range(100)]
        store.append(StreamWrite("orphan-1", n * 100, events, b"{}", f"orphan/{n}"))
    store.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EVENTFOLD_")}
    env.update({"EVENTFOLD_HOME": str(tmp_path), "EVENTFOLD_SERVICES": "catalog"})
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "eventfold"), "events", "orphan-1", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stderr is not None
    assert json.loads(process.stdout.readline())["version"] == 1
    process.stdout.close()
    errors = process.stderr.read()
    assert process.wait(timeout=60) == 141, errors
    assert errors == ""

"""``eventfold subscriptions | parked … | rebuild | tail`` through typer's CliRunner."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

from eventfold import DeliveryFailed, SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import Subscription
from eventfold.core.router.router import Router
from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app
from eventfold.entry.service import Service
from tests.eventfold.core.router.targets import RebuildableSqliteTarget, fill
from tests.eventfold.entry.router_probe import PROBE_DB, probe_service


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """probe-1 (3 events) and probe-2 (2 events); probe-rows has routed all but parked
    probe-1 from version 2."""
    store = SqliteEventStore(tmp_path / "eventfold.db")
    fill(store, {"probe-1": 3, "probe-2": 2})
    target = RebuildableSqliteTarget(tmp_path / PROBE_DB, "probe-rows")

    def poison(event):  # type: ignore[no-untyped-def]
        if event.key == "probe-1:2":
            raise DeliveryFailed("partner said 400", retryable=False)

    target.faults.append(poison)
    state = SqliteRouterState(store.path)
    Router(Subscription("probe-rows", target), store, versions=state, parking=state).deliver(
        store.read_all(0)
    )
    state.advance("probe-rows", "", "5")
    state.close()
    store.close()
    return tmp_path


def invoke(home: Path, *args: str):  # type: ignore[no-untyped-def]
    def services(_: Sequence[str]) -> list[Service]:
        return [probe_service(home)]

    context = CliContext(environ={"EVENTFOLD_HOME": str(home)}, load_services=services)
    return CliRunner().invoke(app, list(args), obj=context, env={"COLUMNS": "200"})


def rows(home: Path) -> dict[str, list[int]]:
    return RebuildableSqliteTarget(home / PROBE_DB).by_stream()


def test_subscriptions_shows_position_lag_and_parked(home: Path) -> None:
    result = invoke(home, "subscriptions")
    assert result.exit_code == 0, result.output
    [line] = [ln for ln in result.stdout.splitlines() if "probe-rows" in ln]
    cells = [c.strip() for c in line.strip("│ ").split("│")]
    assert cells[0:4] == ["probe-rows", "probe-rows", "5", "0"]
    assert cells[-1] == "1"


def test_parked_list_names_stream_versions_and_reason(home: Path) -> None:
    result = invoke(home, "parked", "list")
    assert result.exit_code == 0, result.output
    assert "probe-1" in result.stdout
    assert "2..3" in result.stdout
    assert "DeliveryFailed: partner said 400" in result.stdout


def test_parked_show_prints_reason_and_waiting_events(home: Path) -> None:
    result = invoke(home, "parked", "show", "probe-rows", "probe-1")
    assert result.exit_code == 0, result.output
    first, *events = result.stdout.splitlines()
    assert "partner said 400" in first
    assert [json.loads(e)["version"] for e in events] == [2, 3]


def test_parked_redrive_applies_in_order_and_unparks(home: Path) -> None:
    result = invoke(home, "parked", "redrive", "probe-rows", "probe-1")
    assert result.exit_code == 0, result.output
    assert "2 applied" in result.stdout
    assert rows(home)["probe-1"] == [1, 2, 3]
    assert "no parked streams" in invoke(home, "parked", "list").stdout


def test_parked_skip_needs_yes_then_unparks(home: Path) -> None:
    refused = invoke(home, "parked", "skip", "probe-rows", "probe-1")
    assert refused.exit_code == 1
    assert "--yes" in refused.stderr
    result = invoke(home, "parked", "skip", "probe-rows", "probe-1", "--yes")
    assert result.exit_code == 0, result.output
    assert "skipped 2 events" in result.stdout
    assert rows(home)["probe-1"] == [1]
    assert "no parked streams" in invoke(home, "parked", "list").stdout


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("parked", "show", "nope", "probe-1"), ["no subscription named 'nope'", "probe-rows"]),
        (("parked", "show", "probe-rows", "probe-2"), ["probe-2 is not parked"]),
        (("parked", "redrive", "probe-rows", "probe-2"), ["probe-2 is not parked"]),
        (("parked", "skip", "probe-rows", "probe-2", "--yes"), ["probe-2 is not parked"]),
        (("parked", "redrive", "nope", "probe-2"), ["no subscription named 'nope'"]),
        (("rebuild", "nope"), ["no subscription named 'nope'"]),
    ],
)
def test_operator_mistakes_are_one_line_errors(home: Path, args, words) -> None:  # type: ignore[no-untyped-def]
    result = invoke(home, *args)
    assert result.exit_code == 1
    [line] = result.stderr.splitlines()
    assert all(w in line for w in words), line


def test_rebuild_replays_the_store_into_fresh_tables(home: Path) -> None:
    result = invoke(home, "rebuild", "probe-rows")
    assert result.exit_code == 0, result.output
    assert "rebuilt probe-rows: 5 events read, 5 applied" in result.stdout
    assert "events/s" in result.stdout
    assert rows(home) == {"probe-1": [1, 2, 3], "probe-2": [1, 2]}


def test_tail_prints_events_as_json_lines(home: Path) -> None:
    result = invoke(home, "tail", "--from-start", "--no-follow", "--category", "probe")
    assert result.exit_code == 0, result.output
    keys = [(e["stream_id"], e["version"]) for e in map(json.loads, result.stdout.splitlines())]
    assert keys == [("probe-1", 1), ("probe-2", 1), ("probe-1", 2), ("probe-2", 2), ("probe-1", 3)]


def test_tail_takes_categories_separated_by_commas_and_names_unowned_ones(home: Path) -> None:
    result = invoke(home, "tail", "--from-start", "--no-follow", "--category", "other,probe")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 5
    assert "no installed service owns other" in result.stderr


def test_tail_stops_after_limit(home: Path) -> None:
    result = invoke(home, "tail", "--from-start", "--limit", "2")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2


@pytest.mark.parametrize(
    "command",
    [
        ["subscriptions"],
        ["parked", "list"],
        ["parked", "show", "probe-rows", "probe-1"],
        ["parked", "redrive", "probe-rows", "probe-1"],
        ["rebuild", "probe-rows"],
    ],
)
def test_a_folder_without_an_event_store_is_refused_and_left_untouched(
    tmp_path: Path, command: list[str]
) -> None:
    mistyped = tmp_path / "typo"
    result = invoke(mistyped, *command)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"error: no event store at {mistyped / 'eventfold.db'}")
    assert not mistyped.exists()


def test_read_only_commands_never_migrate(tmp_path: Path) -> None:
    SqliteEventStore(tmp_path / "eventfold.db").close()
    context = CliContext(environ={"EVENTFOLD_HOME": str(tmp_path)})  # the installed services
    for command in (["subscriptions"], ["parked", "list"]):
        result = CliRunner().invoke(app, command, obj=context)
        assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "eventfold-query.db") as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "reservations" not in tables  # the service's migration did not run
    assert not any("version" in name and "router" not in name for name in tables), tables

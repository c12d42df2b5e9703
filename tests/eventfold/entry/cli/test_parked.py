"""``eventfold parked redrive|skip`` on a selection, ``--json`` listings, ids never cut."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventfold import DeliveryFailed, SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import Subscription
from eventfold.core.router.router import Router
from eventfold.domain.events import RecordedEvent
from tests.eventfold.core.router.targets import RebuildableSqliteTarget, fill
from tests.eventfold.entry.cli.test_ops import invoke, rows
from tests.eventfold.entry.router_probe import PROBE_DB

LONG_ID = "probe-" + "0123456789abcdef" * 6  # longer than any terminal line


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """Three parked streams of probe-rows: probe-1 and probe-2 ("partner said 400"), the
    long one ("timed out"); probe-3 went through."""
    store = SqliteEventStore(tmp_path / "eventfold.db")
    fill(store, {"probe-1": 2, "probe-2": 1, "probe-3": 1, LONG_ID: 1})
    target = RebuildableSqliteTarget(tmp_path / PROBE_DB, "probe-rows")

    def refuse(event: RecordedEvent) -> None:
        if event.stream_id == LONG_ID:
            raise DeliveryFailed("timed out", retryable=False)
        if event.stream_id != "probe-3":
            raise DeliveryFailed("partner said 400", retryable=False)

    target.faults.append(refuse)
    state = SqliteRouterState(store.path)
    Router(Subscription("probe-rows", target), store, versions=state, parking=state).deliver(
        store.read_all(0)
    )
    state.close()
    store.close()
    return tmp_path


def parked(home: Path) -> list[str]:
    listed = invoke(home, "parked", "list", "--json")
    assert listed.exit_code == 0, listed.output
    return sorted(json.loads(line)["stream_id"] for line in listed.stdout.splitlines())


def test_parked_list_as_json_lines(home: Path) -> None:
    result = invoke(home, "parked", "list", "--json")
    assert result.exit_code == 0, result.output
    records = {r["stream_id"]: r for r in map(json.loads, result.stdout.splitlines())}
    assert set(records) == {"probe-1", "probe-2", LONG_ID}
    assert records["probe-1"]["first_version"] == 1
    assert records["probe-1"]["last_version"] == 2
    assert records["probe-1"]["reason"] == "DeliveryFailed: partner said 400"


def test_a_table_never_cuts_an_id(home: Path) -> None:
    narrow = invoke(home, "parked", "list")  # invoke sets COLUMNS=200: the id is longer
    assert narrow.exit_code == 0, narrow.output
    assert LONG_ID in narrow.stdout


def test_subscriptions_as_json_lines(home: Path) -> None:
    result = invoke(home, "subscriptions", "--json")
    assert result.exit_code == 0, result.output
    [record] = map(json.loads, result.stdout.splitlines())
    assert record["subscription"] == "probe-rows"
    assert record["parked"] == 3


def test_redrive_by_reason_takes_only_the_streams_whose_reason_matches(home: Path) -> None:
    # the service's own target has no faults: what was refused goes through now
    result = invoke(home, "parked", "redrive", "--reason", "SAID 400")
    assert result.exit_code == 0, result.output
    assert parked(home) == [LONG_ID]
    assert rows(home)["probe-1"] == [1, 2]
    assert rows(home)["probe-2"] == [1]


def test_redrive_all_and_by_subscription(home: Path) -> None:
    result = invoke(home, "parked", "redrive", "--subscription", "probe-rows")
    assert result.exit_code == 0, result.output
    assert parked(home) == []
    assert invoke(home, "parked", "redrive", "--all").stdout == "no parked streams selected\n"


def test_skip_all_needs_yes_then_skips_every_parked_stream(home: Path) -> None:
    assert invoke(home, "parked", "skip", "--all").exit_code == 1
    result = invoke(home, "parked", "skip", "--all", "--yes")
    assert result.exit_code == 0, result.output
    assert parked(home) == []
    assert "probe-1" not in rows(home)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("parked", "redrive"), ["name a stream", "--all"]),
        (("parked", "redrive", "probe-rows"), ["name the stream too", "--subscription"]),
        (("parked", "redrive", "probe-rows", "probe-1", "--all"), ["not both"]),
        (("parked", "redrive", "--all", "--reason", "x"), ["leave out"]),
        (("parked", "redrive", "--subscription", "nope"), ["no subscription named 'nope'"]),
    ],
)
def test_a_selection_that_does_not_parse_is_one_line(home: Path, args, words) -> None:  # type: ignore[no-untyped-def]
    result = invoke(home, *args)
    assert result.exit_code == 1, result.output
    [line] = result.stderr.splitlines()
    assert all(w in line for w in words), line


@pytest.mark.parametrize(
    "command",
    [["parked", "list"], ["subscriptions"], ["events"], ["audit"]],
)
def test_json_is_shown_as_a_flag_taking_no_value(home: Path, command: list[str]) -> None:
    result = invoke(home, *command, "--help")
    [line] = [ln for ln in result.stdout.splitlines() if "--json" in ln]
    assert "<bool>" not in line

"""``eventfold audit PROJECTION [--heal] [--json]`` on a home whose feed lost events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eventfold import SqliteEventStore
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.router.ports import Subscription
from eventfold.core.router.router import Router
from tests.eventfold.core.router.targets import RebuildableSqliteTarget, fill
from tests.eventfold.entry.cli.test_ops import invoke, rows
from tests.eventfold.entry.router_probe import PROBE_DB

LOST = {"probe-1:3", "probe-3:2"}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """probe-1 (3 events), probe-2 (2), probe-3 (2); probe-rows got every event but the
    lost ones (trimmed from the feed before it read them) and its checkpoint is past them."""
    store = SqliteEventStore(tmp_path / "eventfold.db")
    fill(store, {"probe-1": 3, "probe-2": 2, "probe-3": 2})
    target = RebuildableSqliteTarget(tmp_path / PROBE_DB, "probe-rows")
    state = SqliteRouterState(store.path)
    fed = [e for e in store.read_all(0) if e.key not in LOST]
    Router(Subscription("probe-rows", target), store, versions=state, parking=state).deliver(fed)
    state.advance("probe-rows", "", str(store.head_position()))
    state.close()
    store.close()
    return tmp_path


def test_audit_lists_exactly_the_streams_behind_and_heal_catches_them_up(home: Path) -> None:
    found = invoke(home, "audit", "probe-rows", "--json")
    assert found.exit_code == 0, found.output
    records = [json.loads(line) for line in found.stdout.splitlines()]
    assert [(r["stream_id"], r["applied_version"], r["behind"]) for r in records] == [
        ("probe-1", 2, 1),
        ("probe-3", 1, 1),
    ]

    healed = invoke(home, "audit", "probe-rows", "--heal")
    assert healed.exit_code == 0, healed.output
    assert "probe-3" in healed.stdout
    assert "healed probe-rows: 2 events applied" in healed.stdout
    assert rows(home) == {"probe-1": [1, 2, 3], "probe-2": [1, 2], "probe-3": [1, 2]}

    again = invoke(home, "audit", "probe-rows")
    assert again.exit_code == 0, again.output
    assert "probe-rows is up to date with the event store" in again.stdout


def test_audit_of_an_unknown_subscription_is_one_line(home: Path) -> None:
    result = invoke(home, "audit", "nope")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no subscription named 'nope'")


def test_audit_in_a_folder_without_an_event_store_creates_nothing(tmp_path: Path) -> None:
    mistyped = tmp_path / "typo"
    result = invoke(mistyped, "audit", "probe-rows")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no event store at")
    assert not mistyped.exists()

"""The service's command handler on the ``store`` fixture (tests/examples/conftest.py)."""

from __future__ import annotations

import pytest

from eventfold import CommandHandler, SqliteEventStore
from reservations.app import make_handler


@pytest.fixture
def handler(store: SqliteEventStore) -> CommandHandler:
    return make_handler(store)

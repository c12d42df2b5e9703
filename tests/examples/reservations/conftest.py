"""The service's command handler on the ``store`` fixture (tests/examples/conftest.py), and
``receiver``: a partner answering webhooks on loopback."""

from __future__ import annotations

import pytest

from eventfold import CommandHandler, SqliteEventStore
from reservations.app import make_handler
from tests.eventfold.adapters.webhooks.servers import receiver

__all__ = ["handler", "receiver"]


@pytest.fixture
def handler(store: SqliteEventStore) -> CommandHandler:
    return make_handler(store)

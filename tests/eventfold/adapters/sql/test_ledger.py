"""The SQL effects ledger: the contract on SQLite and MariaDB, and what a database failure
becomes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from eventfold.errors import DeliveryFailed
from eventfold.sql import SqlEffectsLedger, create_engine, migrate, sqlite_url
from tests.contracts.effects_ledger import EffectsLedgerContract, Status


class TestSqlEffectsLedger(EffectsLedgerContract):
    @pytest.fixture
    def ledger(self, engine: Engine) -> SqlEffectsLedger:
        migrate(engine)
        return SqlEffectsLedger(engine)

    @pytest.fixture
    def status(self, ledger: SqlEffectsLedger) -> Status:
        return ledger.status


def test_a_failure_reason_is_kept_for_operators(engine: Engine) -> None:
    migrate(engine)
    ledger = SqlEffectsLedger(engine)
    ledger.claim("mails", ["a:1/x"])
    ledger.settle("mails", [], {"a:1/x": "SMTP 451 " + "x" * 3000})
    reason = ledger.last_error("mails", "a:1/x")
    assert reason is not None
    assert reason.startswith("SMTP 451")
    assert len(reason) == 2000
    ledger.claim("mails", ["a:1/x"])
    ledger.settle("mails", ["a:1/x"])
    assert ledger.last_error("mails", "a:1/x") is None


def test_a_database_failure_is_a_retryable_delivery_failure(tmp_path: Path) -> None:
    ledger = SqlEffectsLedger(create_engine(sqlite_url(tmp_path / "unmigrated.db")))
    with pytest.raises(DeliveryFailed, match="effects ledger unavailable") as raised:
        ledger.claim("mails", ["order-1:1/confirm"])
    assert raised.value.retryable
    with pytest.raises(DeliveryFailed, match="effects ledger unavailable"):
        ledger.settle("mails", ["order-1:1/confirm"])
    with pytest.raises(DeliveryFailed, match="effects ledger unavailable"):
        ledger.done("mails", ["order-1:1/confirm"])

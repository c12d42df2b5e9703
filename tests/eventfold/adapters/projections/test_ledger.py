"""The SQL effects ledger: claim, complete, and what a database failure becomes."""

from __future__ import annotations

from pathlib import Path

import pytest

from eventfold.errors import DeliveryFailed
from eventfold.sql import SqlEffectsLedger, create_engine, migrate, sqlite_url


def test_claim_counts_attempts_until_complete(tmp_path: Path) -> None:
    engine = create_engine(sqlite_url(tmp_path / "eventfold.db"))
    migrate(engine)
    ledger = SqlEffectsLedger(engine)
    ledger.claim("mails", "order-1:1/confirm")
    ledger.claim("mails", "order-1:1/confirm")
    assert ledger.status("mails", "order-1:1/confirm") == ("pending", 2)
    ledger.complete("mails", "order-1:1/confirm")
    assert ledger.status("mails", "order-1:1/confirm") == ("done", 2)
    assert ledger.done("mails", ["order-1:1/confirm", "order-2:1/confirm"]) == {"order-1:1/confirm"}


def test_a_database_failure_is_a_retryable_delivery_failure_except_in_failed(
    tmp_path: Path,
) -> None:
    ledger = SqlEffectsLedger(create_engine(sqlite_url(tmp_path / "unmigrated.db")))
    with pytest.raises(DeliveryFailed, match="effects ledger unavailable") as raised:
        ledger.claim("mails", "order-1:1/confirm")
    assert raised.value.retryable
    with pytest.raises(DeliveryFailed, match="effects ledger unavailable"):
        ledger.complete("mails", "order-1:1/confirm")
    with pytest.raises(DeliveryFailed, match="effects ledger unavailable"):
        ledger.done("mails", ["order-1:1/confirm"])
    ledger.failed("mails", "order-1:1/confirm", "boom")  # best effort: no error of its own

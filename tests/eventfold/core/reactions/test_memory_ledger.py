from __future__ import annotations

import pytest

from eventfold.targets import MemoryEffectsLedger
from tests.contracts.effects_ledger import EffectsLedgerContract, Status


class TestMemoryEffectsLedger(EffectsLedgerContract):
    @pytest.fixture
    def ledger(self) -> MemoryEffectsLedger:
        return MemoryEffectsLedger()

    @pytest.fixture
    def status(self, ledger: MemoryEffectsLedger) -> Status:
        return ledger.status

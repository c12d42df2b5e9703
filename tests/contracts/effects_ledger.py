"""The EffectsLedger contract: every effects-ledger adapter passes these tests.

An adapter's test class subclasses :class:`EffectsLedgerContract` and provides ``ledger``
and ``status`` (a function ``(reaction, key) -> (status, attempts) | None``, status
``"pending"`` or ``"done"``; None: no row). The promises are the ones the reaction relies on
(see ``eventfold.core.reactions.reaction``): ``done`` only after ``settle`` said so, claims
counted per attempt, released claims taken back, and each call one unit (a batch).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from eventfold.targets import EffectsLedger

Status = Callable[[str, str], "tuple[str, int] | None"]


class EffectsLedgerContract:
    @pytest.fixture
    def ledger(self) -> EffectsLedger:
        raise NotImplementedError("an adapter's test class provides the ledger fixture")

    @pytest.fixture
    def status(self) -> Status:
        raise NotImplementedError("an adapter's test class provides the status fixture")

    def test_nothing_is_done_at_first(self, ledger: EffectsLedger, status: Status) -> None:
        assert ledger.done("mails", ["a:1/x", "b:1/x"]) == set()
        assert ledger.done("mails", []) == set()
        assert status("mails", "a:1/x") is None

    def test_a_claim_is_pending_until_settled_done(
        self, ledger: EffectsLedger, status: Status
    ) -> None:
        ledger.claim("mails", ["a:1/x", "a:2/x", "b:1/x"])
        assert ledger.done("mails", ["a:1/x", "a:2/x", "b:1/x"]) == set()
        assert status("mails", "a:1/x") == ("pending", 1)
        ledger.settle("mails", ["a:1/x", "b:1/x"])
        assert ledger.done("mails", ["a:1/x", "a:2/x", "b:1/x"]) == {"a:1/x", "b:1/x"}
        assert status("mails", "a:1/x") == ("done", 1)
        assert status("mails", "a:2/x") == ("pending", 1)

    def test_each_claim_of_a_pending_effect_counts_an_attempt(
        self, ledger: EffectsLedger, status: Status
    ) -> None:
        ledger.claim("mails", ["a:1/x"])
        ledger.claim("mails", ["a:1/x", "a:2/x"])
        assert status("mails", "a:1/x") == ("pending", 2)
        assert status("mails", "a:2/x") == ("pending", 1)
        ledger.settle("mails", ["a:1/x"])
        assert status("mails", "a:1/x") == ("done", 2)

    def test_claiming_a_done_effect_changes_nothing(
        self, ledger: EffectsLedger, status: Status
    ) -> None:
        assert ledger.claim("mails", ["a:1/x"]) == set()
        ledger.settle("mails", ["a:1/x"])
        assert ledger.claim("mails", ["a:1/x", "a:2/x", "a:1/x"]) == {"a:1/x"}  # said, kept
        assert status("mails", "a:1/x") == ("done", 1)
        assert status("mails", "a:2/x") == ("pending", 1)
        assert ledger.done("mails", ["a:1/x"]) == {"a:1/x"}

    def test_one_claim_of_done_pending_and_new_effects_tells_each_apart(
        self, ledger: EffectsLedger, status: Status
    ) -> None:
        ledger.claim("mails", ["a:1/x", "a:2/x"])
        ledger.settle("mails", ["a:1/x"])
        assert ledger.claim("mails", ["a:3/x", "a:2/x", "a:1/x"]) == {"a:1/x"}
        assert status("mails", "a:1/x") == ("done", 1)
        assert status("mails", "a:2/x") == ("pending", 2)
        assert status("mails", "a:3/x") == ("pending", 1)

    def test_a_failure_keeps_the_effect_pending(
        self, ledger: EffectsLedger, status: Status
    ) -> None:
        ledger.claim("mails", ["a:1/x", "a:2/x"])
        ledger.settle("mails", ["a:1/x"], {"a:2/x": "SMTP 451"})
        assert ledger.done("mails", ["a:1/x", "a:2/x"]) == {"a:1/x"}
        assert status("mails", "a:2/x") == ("pending", 1)
        ledger.claim("mails", ["a:2/x"])
        ledger.settle("mails", ["a:2/x"])
        assert status("mails", "a:2/x") == ("done", 2)

    def test_released_claims_are_taken_back(self, ledger: EffectsLedger, status: Status) -> None:
        ledger.claim("mails", ["a:1/x"])
        ledger.settle("mails", [], {"a:1/x": "timed out"})
        ledger.claim("mails", ["a:1/x", "b:1/x"])  # a second attempt; b's first
        ledger.settle("mails", [], released=["a:1/x", "b:1/x"])  # neither was attempted
        assert status("mails", "a:1/x") == ("pending", 1)
        assert status("mails", "b:1/x") is None
        assert ledger.done("mails", ["a:1/x", "b:1/x"]) == set()

    def test_releasing_never_touches_a_done_effect(
        self, ledger: EffectsLedger, status: Status
    ) -> None:
        ledger.claim("mails", ["a:1/x"])
        ledger.settle("mails", ["a:1/x"])
        ledger.settle("mails", [], released=["a:1/x"])
        assert status("mails", "a:1/x") == ("done", 1)

    def test_reactions_have_separate_ledgers(self, ledger: EffectsLedger, status: Status) -> None:
        ledger.claim("mails", ["a:1/x"])
        ledger.settle("mails", ["a:1/x"])
        assert ledger.done("partner", ["a:1/x"]) == set()
        ledger.claim("partner", ["a:1/x"])
        assert status("partner", "a:1/x") == ("pending", 1)
        assert status("mails", "a:1/x") == ("done", 1)

    def test_repeated_keys_in_one_call_count_once(
        self, ledger: EffectsLedger, status: Status
    ) -> None:
        ledger.claim("mails", ["a:1/x", "a:1/x"])
        assert status("mails", "a:1/x") == ("pending", 1)
        ledger.settle("mails", ["a:1/x", "a:1/x"])
        assert ledger.done("mails", ["a:1/x", "a:1/x"]) == {"a:1/x"}

    def test_big_batches(self, ledger: EffectsLedger, status: Status) -> None:
        keys = [f"s{n}:1/x" for n in range(1_234)]
        ledger.claim("mails", keys)
        ledger.settle("mails", keys[:1_000], released=keys[1_000:])
        assert ledger.done("mails", keys) == set(keys[:1_000])
        assert status("mails", keys[-1]) is None

    def test_an_empty_batch_does_nothing(self, ledger: EffectsLedger, status: Status) -> None:
        ledger.claim("mails", [])
        ledger.settle("mails", [])
        assert ledger.done("mails", []) == set()

    def test_settling_an_effect_never_claimed_records_nothing(
        self, ledger: EffectsLedger, status: Status
    ) -> None:
        # done rows exist only for effects claimed before they were performed
        ledger.settle("mails", ["a:1/x"], {"b:1/x": "refused"}, ["c:1/x"])
        assert ledger.done("mails", ["a:1/x"]) == set()
        assert [status("mails", k) for k in ("a:1/x", "b:1/x", "c:1/x")] == [None, None, None]

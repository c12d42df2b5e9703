"""The Checkpoints contract: every adapter of the port passes these tests.

Subclass in the adapter's test module and provide a ``checkpoints`` fixture.
"""

from __future__ import annotations

import pytest

from eventfold.core.router.ports import BEGINNING, Checkpoints


class CheckpointsContract:
    @pytest.fixture
    def checkpoints(self) -> Checkpoints:
        raise NotImplementedError("an adapter's test class provides the checkpoints fixture")

    def test_a_new_subscription_starts_at_the_beginning(self, checkpoints: Checkpoints) -> None:
        assert checkpoints.checkpoint("rows") == BEGINNING

    def test_advance_moves_only_from_the_expected_checkpoint(
        self, checkpoints: Checkpoints
    ) -> None:
        assert checkpoints.advance("rows", BEGINNING, "5")
        assert not checkpoints.advance("rows", BEGINNING, "9")
        assert checkpoints.checkpoint("rows") == "5"
        assert checkpoints.advance("rows", "5", "7")
        assert checkpoints.checkpoint("rows") == "7"

    def test_reset_sets_the_checkpoint(self, checkpoints: Checkpoints) -> None:
        checkpoints.advance("rows", BEGINNING, "5")
        checkpoints.reset("rows", "2")
        assert checkpoints.checkpoint("rows") == "2"
        assert checkpoints.checkpoint("other") == BEGINNING

    def test_a_reset_makes_an_advance_from_the_old_checkpoint_fail(
        self, checkpoints: Checkpoints
    ) -> None:
        """A rebuild's hand-over wins over a runner still holding the checkpoint it read."""
        checkpoints.advance("rows", BEGINNING, "5")
        checkpoints.reset("rows", BEGINNING)
        assert not checkpoints.advance("rows", "5", "9")
        assert checkpoints.checkpoint("rows") == BEGINNING
        assert checkpoints.advance("rows", BEGINNING, "3")

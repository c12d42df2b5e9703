"""The AppliedVersions contract: every adapter of the port passes these tests.

Subclass in the adapter's test module and provide a ``versions`` fixture.
"""

from __future__ import annotations

import pytest

from eventfold.core.router.ports import AppliedVersions


class AppliedVersionsContract:
    @pytest.fixture
    def versions(self) -> AppliedVersions:
        raise NotImplementedError("an adapter's test class provides the versions fixture")

    def test_streams_never_recorded_are_left_out(self, versions: AppliedVersions) -> None:
        assert versions.applied_versions("rows", ["a-1"]) == {}
        assert versions.applied_versions("rows", []) == {}

    def test_versions_are_kept_per_subscription_and_never_lowered(
        self, versions: AppliedVersions
    ) -> None:
        versions.record_applied("rows", {"a-1": 3, "b-1": 1})
        versions.record_applied("rows", {"a-1": 2})
        versions.record_applied("mail", {"a-1": 9})
        assert versions.applied_versions("rows", ["a-1", "b-1", "c-1"]) == {"a-1": 3, "b-1": 1}
        assert versions.applied_versions("mail", ["a-1"]) == {"a-1": 9}

    def test_a_recorded_version_is_raised(self, versions: AppliedVersions) -> None:
        versions.record_applied("rows", {"a-1": 3})
        versions.record_applied("rows", {"a-1": 5, "b-1": 2})
        versions.record_applied("rows", {})
        assert versions.applied_versions("rows", ["a-1", "b-1"]) == {"a-1": 5, "b-1": 2}

    def test_many_streams_can_be_asked_at_once(self, versions: AppliedVersions) -> None:
        versions.record_applied("rows", {f"a-{i}": i for i in range(1, 1501)})
        found = versions.applied_versions("rows", [f"a-{i}" for i in range(1, 1502)])
        assert len(found) == 1500
        assert found["a-1500"] == 1500

"""Callers for the reference services' HTTP tests that are not about access control: one
token holding every role (subject ``c1``, staff of the stores the tests use), so each test
reads as the workflow it checks. The policy itself is tested per role in
``tests/examples/reservations/test_access.py``."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from eventfold.testing import TokenIssuer

EVERY_ROLE = ("customer", "staff", "support", "inventory", "operator")
TEST_STORES = ("s1", "s2", "s3", "st1", "st2")


@functools.cache
def shared_issuer() -> TokenIssuer:
    """The test session's signing key, for helpers that are not fixtures (the
    ``token_issuer`` fixture is this one too)."""
    return TokenIssuer()


def every_role(
    issuer: TokenIssuer, subject: str = "c1", stores: Iterable[str] = TEST_STORES
) -> dict[str, str]:
    """Authorization headers of a caller with every role."""
    return issuer.headers(subject, *EVERY_ROLE, stores=stores)

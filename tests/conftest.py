"""Fixtures every test folder may use: ``aws`` / ``moto_server`` (moto in server mode on
loopback, see tests/aws_support/moto_server.py) and ``token_issuer`` (bearer tokens)."""

import pytest

from eventfold.testing import TokenIssuer
from tests.examples.callers import shared_issuer

pytest_plugins = ["tests.aws_support.moto_server"]


@pytest.fixture(scope="session")
def token_issuer() -> TokenIssuer:
    """One signing key for the whole session (making one takes ~50 ms)."""
    return shared_issuer()

"""Fixtures every test folder may use: ``aws`` / ``moto_server`` (moto in server mode on
loopback, see tests/aws_support/moto_server.py), ``token_issuer`` (bearer tokens); every
test starts with the logging the entry points configure."""

import pytest

from eventfold.entry.logs import configure_logging
from eventfold.testing import TokenIssuer
from tests.examples.callers import shared_issuer

pytest_plugins = ["tests.aws_support.moto_server"]


@pytest.fixture(scope="session")
def token_issuer() -> TokenIssuer:
    """One signing key for the whole session (making one takes ~50 ms)."""
    return shared_issuer()


@pytest.fixture(autouse=True)
def _logging_as_every_entry_point_configures_it() -> None:
    """Each test starts with the logging of eventfold's entry points (JSON lines at INFO;
    pytest's caplog sees structlog's lines too), whatever a test before it configured."""
    configure_logging("info", json=True)

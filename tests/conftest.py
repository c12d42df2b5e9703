"""Fixtures every test folder may use: ``aws`` / ``moto_server`` (moto in server mode on
loopback, see tests/aws_support/moto_server.py)."""

pytest_plugins = ["tests.aws_support.moto_server"]

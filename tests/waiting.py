"""Waiting, bounded, for something another process or thread does (end-to-end and fault
tests)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

LIMIT_SECONDS = 60.0
"""How long to wait for a process to start or a side effect to arrive (a bound on a hang,
not a speed check)."""


def eventually(
    what: str, found: Callable[[], Any], *, pause: float = 0.05, limit: float = LIMIT_SECONDS
) -> Any:
    """The first truthy ``found()``, polled every ``pause`` seconds; the test fails naming
    ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not (result := found()):
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(pause)
    return result

"""The ``eventfold`` command of this venv, and an ``eventfold worker`` started for a test."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest

EVENTFOLD = Path(sys.executable).parent / "eventfold"


def start_worker(environ: Mapping[str, str], home: Path) -> subprocess.Popen[str]:
    """``eventfold worker`` in ``home`` with exactly ``environ`` (EVENTFOLD_LOG_LEVEL info
    or debug), returned once it logs that it routes (its stderr is then drained in the
    background); fails the test if it exits first."""
    level = environ.get("EVENTFOLD_LOG_LEVEL", "").strip().lower()
    assert level in ("", "info", "debug"), f"the worker's INFO lines are off at {level}"
    worker = subprocess.Popen(
        [str(EVENTFOLD), "worker"],
        env=dict(environ),
        cwd=home,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    for line in worker.stderr:  # the INFO line "routing to subscriptions"
        if "routing to" in line:
            threading.Thread(target=worker.stderr.read, daemon=True).start()
            return worker
    pytest.fail(f"eventfold worker exited before routing (code {worker.wait()})")

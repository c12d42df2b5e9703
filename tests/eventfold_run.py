"""``eventfold run`` as a real process for end-to-end tests: started, awaited on
``/healthz``, stopped with SIGTERM (killed after 20 s)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.waiting import eventually


@contextmanager
def eventfold_run(eventfold: Path, env: dict[str, str], cwd: Path) -> Iterator[str]:
    """Run ``eventfold run`` with ``env`` (which sets PORT); yields its base URL."""
    process = subprocess.Popen(
        [str(eventfold), "run"],
        env=env,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{env['PORT']}"

    def healthy() -> bool:
        if process.poll() is not None:
            pytest.fail(f"eventfold run exited: {process.communicate()[1]}")
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        eventually("eventfold run to answer /healthz", healthy)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()

"""Kill -9 the worker at random moments; after restarts every event is applied exactly once,
in order, as a clean in-order run would."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from eventfold import EventData, SqliteEventStore, StreamWrite
from tests.eventfold.core.router.targets import TrackingSqliteTarget
from tests.eventfold.entry.router_probe import PROBE_DB

ROOT = Path(__file__).resolve().parents[3]
STREAMS = 100
PER_STREAM = 100  # 10,000 events


def fill_store(path: Path) -> None:
    store = SqliteEventStore(path, durability="off")
    for round_ in range(PER_STREAM // 10):
        for s in range(STREAMS):
            events = [EventData("Happened", b"{}") for _ in range(10)]
            store.append(StreamWrite(f"probe-{s}", round_ * 10, events, b"{}", "t/1"))
    store.close()


def start_worker(home: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.eventfold.entry.router_probe", str(home)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PROBE_BATCH": "20"},
    )


def applied(home: Path) -> int:
    if not (home / PROBE_DB).exists():
        return 0
    return len(TrackingSqliteTarget(home / PROBE_DB).rows())


@pytest.mark.slow
def test_killed_workers_resume_and_apply_every_event_exactly_once(tmp_path: Path) -> None:
    fill_store(tmp_path / "eventfold.db")
    chance = random.Random(20240611)
    pause = threading.Event()
    kills = 0
    for _ in range(8):
        worker = start_worker(tmp_path)
        assert worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        pause.wait(chance.uniform(0.02, 0.25))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills += 1
        if applied(tmp_path) >= STREAMS * PER_STREAM:
            break
    worker = start_worker(tmp_path)
    assert worker.stdout is not None
    assert worker.stdout.readline().strip() == "ready"
    try:
        for _ in range(3000):  # liveness bound, not a speed assertion
            if applied(tmp_path) >= STREAMS * PER_STREAM:
                break
            pause.wait(0.02)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=30)
    assert code == 0
    assert kills >= 1
    streams = TrackingSqliteTarget(tmp_path / PROBE_DB).by_stream()
    assert streams == {f"probe-{s}": list(range(1, PER_STREAM + 1)) for s in range(STREAMS)}

from __future__ import annotations

import gc
import os
import sys

from eventfold.entry.processes import COLLECTOR_THRESHOLDS, Child, prepare_heap_for_serving


def test_a_long_running_child_freezes_its_startup_heap_and_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        prepare_heap_for_serving()
        assert gc.get_freeze_count() > 0  # the modules, at least
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_child_with_a_nice_increment_runs_that_much_nicer_than_its_supervisor() -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    polite = Child("polite", [sys.executable, "-c", "import time; time.sleep(30)"], nice=5)
    plain = Child("plain", [sys.executable, "-c", "import time; time.sleep(30)"])
    for child in (polite, plain):
        child.start()
    try:
        assert polite.pid is not None
        assert plain.pid is not None
        assert os.getpriority(os.PRIO_PROCESS, polite.pid) == min(19, own + 5)
        assert os.getpriority(os.PRIO_PROCESS, plain.pid) == own
    finally:
        for child in (polite, plain):
            assert child.process is not None
            child.process.kill()
            child.process.wait()

from __future__ import annotations

import gc

from eventfold.entry.processes import COLLECTOR_THRESHOLDS, prepare_heap_for_serving


def test_a_long_running_child_freezes_its_startup_heap_and_collects_less_often() -> None:
    before = gc.get_threshold()
    try:
        prepare_heap_for_serving()
        assert gc.get_freeze_count() > 0  # the modules, at least
        assert gc.get_threshold() == COLLECTOR_THRESHOLDS
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)

"""Processes as a test sees them through ``/proc``: whether one runs, and its children."""

from __future__ import annotations

import contextlib
from pathlib import Path


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet waited for, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def living_children(pid: int) -> list[int]:
    """The processes ``pid`` started that still run (none once ``pid`` is gone)."""
    with contextlib.suppress(FileNotFoundError):
        listing = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        return [child for child in map(int, listing.split()) if alive(child)]
    return []

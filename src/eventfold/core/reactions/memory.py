"""An in-memory effects ledger: for tests and quick starts (nothing survives the process)."""

from __future__ import annotations

import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass
class _Row:
    done: bool
    attempts: int
    last_error: str | None = None


class MemoryEffectsLedger:
    """The EffectsLedger port in a dict; thread-safe."""

    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], _Row] = {}
        self._lock = threading.Lock()

    def done(self, reaction: str, keys: Collection[str]) -> set[str]:
        with self._lock:
            return {k for k in keys if (row := self._rows.get((reaction, k))) and row.done}

    def claim(self, reaction: str, keys: Collection[str]) -> set[str]:
        done: set[str] = set()
        with self._lock:
            for key in dict.fromkeys(keys):
                row = self._rows.get((reaction, key))
                if row is None:
                    self._rows[reaction, key] = _Row(done=False, attempts=1)
                elif row.done:
                    done.add(key)
                else:
                    row.attempts += 1
        return done

    def settle(
        self,
        reaction: str,
        done: Collection[str],
        failed: Mapping[str, str] | None = None,
        released: Collection[str] = (),
    ) -> None:
        with self._lock:
            for key in done:  # only claimed effects: as the SQL ledger's UPDATE
                row = self._rows.get((reaction, key))
                if row is not None:
                    row.done, row.last_error = True, None
            for key, reason in (failed or {}).items():
                row_ = self._rows.get((reaction, key))
                if row_ is not None and not row_.done:
                    row_.last_error = reason
            for key in dict.fromkeys(released):
                row_ = self._rows.get((reaction, key))
                if row_ is not None and not row_.done:
                    row_.attempts -= 1
                    if row_.attempts <= 0:
                        del self._rows[reaction, key]

    def status(self, reaction: str, key: str) -> tuple[str, int] | None:
        """(status, attempts) of one effect, for tests."""
        with self._lock:
            row = self._rows.get((reaction, key))
        return None if row is None else ("done" if row.done else "pending", row.attempts)

    def last_error(self, reaction: str, key: str) -> str | None:
        with self._lock:
            row = self._rows.get((reaction, key))
        return None if row is None else row.last_error

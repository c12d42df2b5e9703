"""Commands for the same stream take turns in-process instead of racing.

Without it, n concurrent commands on one hot stream (a popular SKU's stock) all load the
same version, all decide, and all but one conflict at the append, reload and decide again:
O(n^2) work for n commands, and 409s once the retry bound runs out. With it, a
:class:`~eventfold.core.app.handler.Session` takes the turn of each stream when it first
opens it and keeps it until its attempt committed or failed; the next command to get the
turn (one at a time, not in arrival order) then finds the committed state in the handler's
cache and commits on its first attempt.

The turn is only an optimisation, never what makes a command correct: the event store's
version check still decides every append (other processes, other handlers on the same
store do not take turns here). So a session that waits longer than ``timeout`` for a turn
goes on without it and relies on optimistic concurrency, which also rules out a deadlock
between two sessions that open the same streams in different orders.

The table is bounded by what is in use: a stream's entry lives while some session holds or
waits for its turn, and goes with the last of them.
"""

from __future__ import annotations

import threading

DEFAULT_TURN_TIMEOUT = 2.0
"""Seconds a session waits for a stream's turn before going on without it."""


class _Turn:
    __slots__ = ("holder", "lock", "users")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.users = 0  # the holder and every waiter
        self.holder: int | None = None  # the thread holding the turn


class StreamTurns:
    """One turn per stream id: at most one session of this process holds it at a time."""

    def __init__(self) -> None:
        self._mutex = threading.Lock()
        self._turns: dict[str, _Turn] = {}

    def acquire(self, stream_id: str, timeout: float) -> bool:
        """Wait (at most ``timeout`` seconds) for the stream's turn; False: not given. A
        thread that holds the turn already (a command run inside another's session) is not
        given it again, at once: it goes on without, as before turns existed."""
        me = threading.get_ident()
        with self._mutex:
            turn = self._turns.get(stream_id)
            if turn is None:
                turn = self._turns[stream_id] = _Turn()
            elif turn.holder == me:
                return False
            turn.users += 1
        if turn.lock.acquire(timeout=max(0.0, timeout)):
            turn.holder = me
            return True
        with self._mutex:
            self._leave(stream_id, turn)
        return False

    def release(self, stream_id: str) -> None:
        """Give the turn of a stream acquired with :meth:`acquire` to the next in line."""
        with self._mutex:
            turn = self._turns[stream_id]
            turn.holder = None
            turn.lock.release()
            self._leave(stream_id, turn)

    def _leave(self, stream_id: str, turn: _Turn) -> None:
        turn.users -= 1
        if turn.users == 0:
            del self._turns[stream_id]

    def __len__(self) -> int:
        """How many streams have a holder or a waiter now."""
        return len(self._turns)

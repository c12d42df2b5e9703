"""Read-your-writes: wait, a bounded time, until a version-tracking target (a SQL
projection) has applied a stream up to a version.

A client that just wrote version ``v`` of a stream passes ``v`` along with its next read;
the query side calls :func:`wait_until_applied` before reading the query model. The wait
polls :meth:`TracksVersions.applied_versions` (committed data, so it also sees a router
running in another process), starting at ``first_poll`` seconds and doubling up to
``max_poll``: cheap while the projection is a few milliseconds behind, modest while it is
far behind. On timeout it raises :class:`~eventfold.errors.NotYetVisible` (HTTP 503 with
``Retry-After``) rather than returning stale data.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from eventfold.core.router.ports import TracksVersions
from eventfold.errors import NotYetVisible

Clock = Callable[[], float]
Sleep = Callable[[float], None]


def applied_version(target: TracksVersions, stream_id: str) -> int:
    """The last version of ``stream_id`` the target has applied (0: none)."""
    return int(target.applied_versions([stream_id]).get(stream_id, 0))


def wait_until_applied(
    target: TracksVersions,
    stream_id: str,
    version: int,
    *,
    timeout: float,
    first_poll: float = 0.001,
    max_poll: float = 0.02,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> int:
    """Return the applied version of ``stream_id`` once it is at least ``version``;
    raise NotYetVisible when ``timeout`` seconds pass first (``timeout`` 0: look once)."""
    started = clock()
    deadline = started + max(0.0, timeout)
    pause = first_poll
    while True:
        visible = applied_version(target, stream_id)
        if visible >= version:
            return visible
        left = deadline - clock()
        if left <= 0:
            raise NotYetVisible(stream_id, version, visible, clock() - started)
        sleep(min(pause, left))
        pause = min(max_poll, pause * 2)

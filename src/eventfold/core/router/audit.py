"""Comparing the write side with the read side: which streams a subscription is behind on.

A feed that lost events (trimmed from a 24 h change stream before a consumer read them, a
queue message deleted by hand, a checkpoint moved past them) leaves a projection silently
behind: nothing is parked, nothing fails, the next event of the stream would heal the gap,
but a stream that gets no next event stays stale. :func:`audit` compares each stream's
version in the event store (:meth:`EventStore.stream_versions`) with the version the
subscription has applied (the same bookkeeping the router reads) and lists the streams
behind; :func:`heal` hands what is missing to the router's normal path
(:meth:`Router.deliver`: version checks, filter, effects ledger, parking).

Plain functions over ports, for ``eventfold audit`` and the operator console alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from eventfold.core.ports import EventStore
from eventfold.core.router.ports import AppliedVersions, ParkingLot, Subscription
from eventfold.core.router.router import Delivery, Router
from eventfold.core.router.versions import keep_versions
from eventfold.domain.decider import category_of

CHUNK = 500
"""Streams whose applied versions are read in one call."""


@dataclass(frozen=True, slots=True)
class StreamBehind:
    """A stream the subscription has not caught up with.

    ``stored``: its version in the event store; ``applied``: the last version the
    subscription applied (or skipped); ``since``: when the first event it misses was
    recorded; ``parked``: the stream is parked (a redrive, not a heal, is its remedy).
    """

    subscription: str
    stream_id: str
    stored: int
    applied: int
    since: datetime
    parked: bool = False

    @property
    def behind(self) -> int:
        """How many events the subscription is missing."""
        return self.stored - self.applied


def _chunks(pairs: Iterable[tuple[str, int]], size: int) -> Iterator[list[tuple[str, int]]]:
    iterator = iter(pairs)
    while chunk := list(islice(iterator, size)):
        yield chunk


def audit(
    subscription: Subscription,
    store: EventStore,
    *,
    versions: AppliedVersions,
    parking: ParkingLot,
) -> list[StreamBehind]:
    """The streams ``subscription`` is behind on, by stream id.

    Only streams of the categories it wants count, and only missing events its filter
    wants (a stream whose last events the filter leaves out is not behind). Streams the
    router is delivering right now may show as behind for a moment: run it again, or look
    at ``since``. Reads every stream's version once, and the missing events of the streams
    behind (to know since when, and whether the filter wants them).
    """
    name = subscription.name
    keeping = keep_versions(name, subscription.target, versions)
    parked = parking.parked_streams(name)
    wanted = subscription.filter
    found: list[StreamBehind] = []
    heads = ((s, v) for s, v in store.stream_versions() if wanted.wants_stream(category_of(s)))
    for chunk in _chunks(heads, CHUNK):
        lasts = keeping.last_versions([s for s, _ in chunk])
        for stream_id, stored in chunk:
            applied = lasts.get(stream_id, 0)
            if applied >= stored:
                continue
            missing = [e for e in store.read(stream_id, applied) if wanted.matches(e)]
            if not missing:
                continue
            found.append(
                StreamBehind(
                    name,
                    stream_id,
                    stored,
                    applied,
                    missing[0].recorded_at,
                    stream_id in parked,
                )
            )
    return sorted(found, key=lambda b: b.stream_id)


def heal(router: Router, behind: Sequence[StreamBehind]) -> Delivery:
    """Deliver each listed stream's missing events through ``router`` (its subscription's),
    as a feed would have: re-read from the event store after the version applied NOW, so a
    stream that caught up meanwhile gets nothing twice. Parked streams are left alone (see
    ``eventfold parked redrive``). Returns what the router did, summed."""
    total = Delivery()
    keeping = router.keeping
    for item in behind:
        if item.parked or item.subscription != router.name:
            continue
        keeping.forget(item.stream_id)
        applied = keeping.last_versions([item.stream_id]).get(item.stream_id, 0)
        missing = router.store.read(item.stream_id, applied)
        if not missing:
            continue
        report = router.deliver(missing)
        total.applied += report.applied
        total.duplicates += report.duplicates
        total.healed += report.healed
        total.parked.extend(report.parked)
    return total

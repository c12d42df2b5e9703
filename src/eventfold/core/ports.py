"""The ports of eventfold: small protocols that adapters implement.

Every adapter of a port passes that port's contract suite in ``tests/contracts/``:
``event_store.py`` (:class:`EventStore`, here), ``event_codec.py``
(:class:`~eventfold.domain.codecs.EventCodec`: JSON and protobuf), ``effects_ledger.py``
(the reactions' ledger), ``target.py`` (subscription targets) and the router's own
(``feed.py``, ``checkpoints.py``, ``applied_versions.py``, ``parking_lot.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from eventfold.domain.events import EventData, RecordedEvent


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state row of a stream: its version, the encoded state and the fold that wrote it."""

    version: int
    state: bytes
    fold: str


@dataclass(slots=True)
class StreamWrite:
    """One stream's part of an atomic append.

    Committed only if the stream is still at ``expected_version`` (0: the stream must not
    exist). ``events`` get versions ``expected_version + 1 …``; ``state`` / ``fold`` become
    the stream's new snapshot. Not frozen, like :class:`EventData` (it is built on every
    command): do not change one after handing it to ``append``.
    """

    stream_id: str
    expected_version: int
    events: Sequence[EventData]
    state: bytes
    fold: str

    @property
    def new_version(self) -> int:
        return self.expected_version + len(self.events)


@dataclass(frozen=True, slots=True)
class Commit:
    """What an append committed: each stream's version after it.

    ``duplicate`` is True when the command id had already committed and this is that
    earlier commit, returned again without writing anything.
    """

    command_id: str | None
    versions: Mapping[str, int]
    duplicate: bool = False
    fingerprint: str = field(default="", compare=False)


class EventStore(Protocol):
    """Streams of events plus a state snapshot per stream, appended atomically."""

    def append(
        self, *writes: StreamWrite, command_id: str | None = None, fingerprint: str = ""
    ) -> Commit:
        """Commit every write (state rows, event rows, the command-id row) in ONE transaction.

        Raises ConcurrencyConflict naming a stream that is not at its expected version.
        If ``command_id`` already committed, writes nothing and returns that commit with
        ``duplicate=True`` and the fingerprint recorded with it (comparing it with the new one
        is the command handler's job, not the store's).
        """
        ...

    def load(self, stream_id: str) -> Snapshot | None:
        """The stream's state row, or None when the stream has no events."""
        ...

    def read(
        self, stream_id: str, after_version: int = 0, limit: int | None = None
    ) -> list[RecordedEvent]:
        """The stream's events with version > ``after_version``, in version order
        (strongly consistent: everything committed before the call is seen)."""
        ...

    def find_commit(self, command_id: str) -> Commit | None:
        """The commit recorded for a command id, if any."""
        ...

    def scan(self) -> Iterator[RecordedEvent]:
        """Every event in the store once; each stream's events in version order.
        What rebuilds read, independent of any change stream's retention."""
        ...

    def stream_versions(self) -> Iterator[tuple[str, int]]:
        """Every stream once, with its current version (from the state rows; order
        unspecified). What ``eventfold audit`` compares the read side with."""
        ...

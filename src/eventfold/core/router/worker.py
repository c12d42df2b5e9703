"""Running subscriptions: one thread and one cursor over the feed per subscription, so a
failing target never delays another subscription, and a slow one at most by the worker's
turn wait per batch (:class:`Turn`)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext

from eventfold.core.ports import EventStore
from eventfold.core.router.observer import NullObserver, RouterObserver
from eventfold.core.router.ports import (
    AppliedVersions,
    Checkpoints,
    Feed,
    OutagePolicy,
    ParkingLot,
    Subscription,
)
from eventfold.core.router.router import Router, Stopping, describe


class Turn:
    """The subscriptions of one worker deliver one at a time, up to a point.

    Its threads share one GIL, and SQLite and the sockets give it up at every call: four
    busy subscriptions hand it back and forth thousands of times a second. With a turn,
    the others sleep while one delivers its batch (measured on 2 cores under load: router
    CPU per reservation 0.333-0.397 against 0.372-0.472 ms, and its threads waiting for a
    core half as much; docs/performance.md). A runner waits at most ``wait`` seconds for
    the turn, then delivers anyway: a target that is slow to answer (a partner's webhook)
    holds the others back by at most that much per batch."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        self._lock = threading.Lock()

    @contextmanager
    def taken(self) -> Iterator[None]:
        took = self._lock.acquire(timeout=self.wait)
        try:
            yield
        finally:
            if took:
                self._lock.release()


class SubscriptionRunner:
    """Polls the feed from the subscription's checkpoint, routes each batch, then (and only
    then) acks it and advances the checkpoint. ``versions`` and ``parking``: the router's
    (:class:`Router`). ``linger``: after a batch smaller than the subscription's
    ``batch_size``, wait this long before the next poll, so that a busy feed is read in
    fewer, bigger batches (an idle feed still delivers its next event at once).

    ``outages``: a failing stream is set aside and retried between polls, never blocking
    the others (:class:`OutagePolicy`). While a stream is set aside, the stored checkpoint
    stays at the start of the batch that brought its first waiting event (the poll goes on
    from further ahead) and a queue-like feed's batches holding its events are not acked,
    so a crash replays them; parked streams are redriven on the policy's slow schedule.

    ``turn``: shared with the other runners of a worker, so that one delivers at a time
    (:class:`Turn`); None: this runner never waits for another."""

    def __init__(
        self,
        subscription: Subscription,
        feed: Feed,
        store: EventStore,
        *,
        checkpoints: Checkpoints,
        versions: AppliedVersions,
        parking: ParkingLot,
        observer: RouterObserver | None = None,
        stop: threading.Event | None = None,
        poll_timeout: float = 0.5,
        lag_every: float = 1.0,
        error_backoff: float = 0.5,
        checkpoint_every: float = 1.0,
        linger: float = 0.0,
        outages: OutagePolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        turn: Turn | None = None,
    ) -> None:
        self.subscription = subscription
        self.feed = feed
        self.checkpoints = checkpoints
        self.observer: RouterObserver = observer or NullObserver()
        self.stop_event = stop or threading.Event()
        self.router = Router(
            subscription,
            store,
            versions=versions,
            parking=parking,
            observer=self.observer,
            sleep=self._sleep,
            outages=OutagePolicy() if outages is None else outages,
            clock=clock,
        )
        self.outages = self.router.outages
        self.parking = parking
        self._clock = clock
        self.poll_timeout = poll_timeout
        self.lag_every = lag_every
        self.error_backoff = error_backoff
        self.checkpoint = checkpoints.checkpoint(subscription.name)
        self._saved = self.checkpoint  # what the checkpoints hold
        self._saved_at = 0.0
        self.checkpoint_every = checkpoint_every
        self._lag_due = 0.0
        self.linger = linger
        self.turn = turn
        self._batches = 0
        # stream set aside -> (number, start checkpoint) of the batch of its first event
        self._held: dict[str, tuple[int, str]] = {}
        every = self.outages.retry_parked_every if self.outages else 0.0
        self._parked_retry_due = clock() + every if every else None

    def _sleep(self, seconds: float) -> None:
        if self.stop_event.wait(seconds):
            raise Stopping

    def step(self, timeout: float | None = None) -> int:
        """One poll and its delivery. Returns how many events the feed gave (0: idle)."""
        name = self.subscription.name
        wait = self.poll_timeout if timeout is None else timeout
        self._retry()
        due = self.router.next_retry()
        if due is not None:  # wake up for the next retry, not after the whole poll timeout
            wait = min(wait, max(0.0, due - self._clock()))
        start = self.checkpoint
        batch = self.feed.poll(start, limit=self.subscription.batch_size, timeout=wait)
        delivered = None
        if batch.events:
            self._batches += 1
            with nullcontext() if self.turn is None else self.turn.taken():
                delivered = self.router.deliver(batch.events)
            for stream_id in delivered.set_aside:
                self._held.setdefault(stream_id, (self._batches, start))
            if not (delivered.set_aside and batch.receipts):
                self.feed.ack(batch)  # a queue redelivers the rest after its visibility timeout
        now = time.monotonic()
        if batch.checkpoint != self.checkpoint:
            # Work the target did (or parked) is recorded at once. A batch that gave the
            # target nothing (all filtered out or already applied) only moves the checkpoint,
            # which may then wait a little: a restart re-reads those events and skips them.
            untouched = delivered is not None and not (
                delivered.applied or delivered.parked or delivered.set_aside
            )
            if untouched and now < self._saved_at + self.checkpoint_every:
                self.checkpoint = batch.checkpoint
            else:
                self._save(batch.checkpoint, now)
        if now >= self._lag_due:
            self._lag_due = now + self.lag_every
            if self.checkpoint != self._saved:
                self._save(self.checkpoint, now)
            self._follow_moved_checkpoint()
            self.observer.lag(name, self.feed.lag(self.checkpoint))
        if self.linger and 0 < len(batch.events) < self.subscription.batch_size:
            # A busy feed: let more events gather before the next poll, so the per-batch
            # costs (transactions, the checkpoint, a connection) are paid by more events.
            self._sleep(self.linger)
        return len(batch.events)

    def _retry(self) -> None:
        """Try the streams set aside whose time has come, and now and then the parked ones;
        release the checkpoint held back for the streams no longer set aside."""
        report = self.router.retry_due()
        for stream_id in report.resolved:
            self._held.pop(stream_id, None)
        if report.resolved and self.checkpoint != self._saved:
            self._save(self.checkpoint, time.monotonic())
        if self._parked_retry_due is None or self._clock() < self._parked_retry_due:
            return
        assert self.outages is not None
        self._parked_retry_due = self._clock() + self.outages.retry_parked_every
        for stream_id in sorted(self.parking.parked_streams(self.subscription.name)):
            if self.stop_event.is_set():
                return
            self.router.redrive(stream_id, attempts=1)  # stays parked if it fails again

    def _save(self, checkpoint: str, now: float) -> None:
        """Move on to ``checkpoint``; store it, or where the streams set aside hold it."""
        name = self.subscription.name
        self.checkpoint = checkpoint
        wanted = min(self._held.values())[1] if self._held else checkpoint
        if wanted == self._saved:
            self._saved_at = now
            return
        if self.checkpoints.advance(name, self._saved, wanted):
            self._saved = wanted
        else:  # someone else moved it: resume from there
            self._resume_from(self.checkpoints.checkpoint(name))
        self._saved_at = now

    def _follow_moved_checkpoint(self) -> None:
        """Notice, even while idle, that a rebuild or an operator moved the checkpoint: the
        feed then delivers again from there and the version checks skip what is done."""
        stored = self.checkpoints.checkpoint(self.subscription.name)
        if stored != self._saved:
            self._resume_from(stored)

    def _resume_from(self, stored: str) -> None:
        """Continue from a checkpoint someone else stored; cached versions may be stale."""
        self.checkpoint = self._saved = stored
        self._held.clear()
        self.router.forget()

    def run(self) -> None:
        """Loop until the stop event is set; errors outside targets are logged and retried."""
        while not self.stop_event.is_set():
            try:
                self.step()
            except Stopping:
                break
            except Exception as error:
                self.observer.failed(self.subscription.name, describe(error))
                if self.stop_event.wait(self.error_backoff):
                    break
        if self.checkpoint != self._saved:  # a checkpoint held back (see step): keep it
            try:
                self._save(self.checkpoint, time.monotonic())
            except Exception as error:
                self.observer.failed(self.subscription.name, describe(error))


class Worker:
    """Runs every subscription in its own thread until :meth:`stop`. ``turn_wait`` > 0:
    the subscriptions deliver one at a time, each waiting at most that long for the
    others (:class:`Turn`); 0: all at once."""

    def __init__(
        self,
        subscriptions: Sequence[Subscription],
        feed: Feed,
        store: EventStore,
        *,
        checkpoints: Checkpoints,
        versions: AppliedVersions,
        parking: ParkingLot,
        observer: RouterObserver | None = None,
        poll_timeout: float = 0.5,
        linger: float = 0.0,
        outages: OutagePolicy | None = None,
        turn_wait: float = 0.0,
    ) -> None:
        names = [s.name for s in subscriptions]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"subscription names must be unique: {', '.join(duplicated)}")
        self.feed = feed
        self._stop = threading.Event()
        turn = Turn(turn_wait) if turn_wait > 0 else None
        self.runners = [
            SubscriptionRunner(
                s,
                feed,
                store,
                checkpoints=checkpoints,
                versions=versions,
                parking=parking,
                observer=observer,
                stop=self._stop,
                poll_timeout=poll_timeout,
                linger=linger,
                outages=outages,
                turn=turn,
            )
            for s in subscriptions
        ]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for runner in self.runners:
            thread = threading.Thread(
                target=runner.run, name=f"eventfold-{runner.subscription.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 10.0) -> None:
        """Ask every runner to stop after its current batch and wait for them."""
        self._stop.set()
        self.feed.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

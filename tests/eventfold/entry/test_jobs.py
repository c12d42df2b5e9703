"""Periodic jobs: the runner (periods, failures, stop) and where the entry points run it."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import pytest
from fastapi import APIRouter
from structlog.testing import capture_logs

from eventfold import EventTypes, JsonCodec, SqliteEventStore
from eventfold.entry.composition import context_on, router_parts
from eventfold.entry.context_reads import job_seconds
from eventfold.entry.service import Job, Service, ServiceContext
from eventfold.entry.settings import load_settings
from eventfold.entry.telemetry import Telemetry
from eventfold.entry.worker import RouterParts, start_jobs, start_router

BOUND = 10.0
"""Liveness bound of the waits below, never reached when the code works."""


class Rounds:
    """A job body that counts its rounds, fails the ones listed, and signals after ``until``."""

    def __init__(self, until: int, failing: tuple[int, ...] = ()) -> None:
        self.count = 0
        self.until = until
        self.failing = failing
        self.done = threading.Event()

    def __call__(self) -> None:
        self.count += 1
        if self.count >= self.until:
            self.done.set()
        if self.count in self.failing:
            raise RuntimeError(f"round {self.count} failed")


def job_threads(*names: str) -> list[str]:
    """The threads still running the jobs ``names``."""
    running = {t.name for t in threading.enumerate()}
    return [name for name in names if f"eventfold-job-{name}" in running]


def test_a_job_runs_every_period_until_stopped() -> None:
    rounds = Rounds(until=3)
    stop = start_jobs([Job("tick", 0.01, rounds)])
    try:
        assert rounds.done.wait(BOUND)
    finally:
        stop()
    assert job_threads("tick") == []  # so no round comes after stop
    assert rounds.count >= 3


def test_a_failing_round_is_logged_and_the_job_runs_again() -> None:
    rounds = Rounds(until=3, failing=(1, 2))
    with capture_logs() as logs:
        stop = start_jobs([Job("flaky", 0.01, rounds)])
        try:
            assert rounds.done.wait(BOUND)
        finally:
            stop()
    failures = [entry for entry in logs if entry.get("job") == "flaky"]
    assert len(failures) == 2
    assert failures[0]["log_level"] == "error"
    assert "runs again next period" in failures[0]["event"]


def test_stop_does_not_wait_for_the_next_period() -> None:
    rounds = Rounds(until=1)
    stop = start_jobs([Job("hourly", 3600.0, rounds), Job("daily", 86400.0, rounds)])
    assert job_threads("hourly", "daily") == ["hourly", "daily"]
    stop()  # returns once the threads ended, not after an hour
    assert job_threads("hourly", "daily") == []
    assert rounds.count == 0  # the first round comes after one period


def jobs_service(rounds: Rounds) -> Service:
    return Service(
        name="sweeper",
        codec=JsonCodec(EventTypes()),
        categories=("sweeper",),
        routes=lambda _: APIRouter(),
        jobs=lambda context: [Job("sweep", job_seconds(context), rounds)],
    )


def test_the_router_runs_the_services_jobs_at_the_configured_interval(tmp_path: Path) -> None:
    settings = load_settings({"EVENTFOLD_HOME": str(tmp_path), "EVENTFOLD_JOB_SECONDS": "0.1"})
    store = SqliteEventStore(settings.database_path)
    context = context_on(store, settings)  # as the entry points do
    rounds = Rounds(until=2)
    parts = functools.partial(router_parts, settings, store)
    stop = start_router([jobs_service(rounds)], context, parts, Telemetry())
    try:
        assert job_seconds(context) == 0.1
        assert rounds.done.wait(BOUND)
    finally:
        stop()
        store.close()
    assert job_threads("sweep") == []


@pytest.mark.parametrize("every", [0, -1.0])
def test_a_job_needs_a_positive_period(every: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        Job("spin", every, lambda: None)


def test_a_failing_jobs_factory_opens_no_router_parts_and_starts_no_threads(
    tmp_path: Path,
) -> None:
    def broken(_: ServiceContext) -> list[Job]:
        raise RuntimeError("no query model")

    opened: list[RouterParts] = []  # the feed and router state, which nothing would close

    service = Service(
        name="broken",
        codec=JsonCodec(EventTypes()),
        categories=("broken",),
        routes=lambda _: APIRouter(),
        jobs=broken,
    )
    settings = load_settings({"EVENTFOLD_HOME": str(tmp_path)})
    store = SqliteEventStore(settings.database_path)

    def recorded() -> RouterParts:
        opened.append(router_parts(settings, store))
        return opened[-1]

    before = set(threading.enumerate())
    try:
        with pytest.raises(RuntimeError, match="no query model"):
            start_router([service], ServiceContext(store), recorded, Telemetry())
        assert [t.name for t in set(threading.enumerate()) - before if t.is_alive()] == []
    finally:
        for parts in opened:
            parts.close()
        store.close()
    assert opened == []

"""The Lambda handler for the services' periodic jobs: a schedule names one job (or none,
for all); unknown names and failing jobs fail the invocation, after the other jobs ran."""

from __future__ import annotations

import pytest

from eventfold.aws import jobs_handler
from eventfold.web import Job


def recorder(ran: list[str], name: str, fails: bool = False) -> Job:
    def run() -> None:
        ran.append(name)
        if fails:
            raise OSError(f"{name} broke")

    return Job(name, 60, run)


def test_the_event_names_the_job_to_run() -> None:
    ran: list[str] = []
    handle = jobs_handler([recorder(ran, "sweep"), recorder(ran, "report")])

    assert handle({"job": "report"}, None) == {"ran": ["report"]}
    assert ran == ["report"]


def test_an_event_naming_no_job_runs_them_all() -> None:
    ran: list[str] = []
    handle = jobs_handler([recorder(ran, "sweep"), recorder(ran, "report")])

    assert handle({"source": "aws.events", "detail-type": "Scheduled Event"}, None) == {
        "ran": ["sweep", "report"]
    }
    assert ran == ["sweep", "report"]


def test_an_unknown_job_fails_the_invocation_naming_the_known_ones() -> None:
    ran: list[str] = []
    handle = jobs_handler([recorder(ran, "sweep")])

    with pytest.raises(ValueError, match=r"no job named 'swep'.*\['sweep'\]"):
        handle({"job": "swep"}, None)
    assert ran == []


def test_a_failing_job_fails_the_invocation_after_the_others_ran() -> None:
    ran: list[str] = []
    handle = jobs_handler([recorder(ran, "sweep", fails=True), recorder(ran, "report")])

    with pytest.raises(RuntimeError, match=r"jobs failed .*: sweep"):
        handle({}, None)
    assert ran == ["sweep", "report"]

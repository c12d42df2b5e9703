"""A Lambda entry point for the services' periodic jobs (``Service.jobs``).

On Lambda no process lives long enough to run jobs every period, so a schedule invokes
them: an EventBridge rule per job (its period, e.g. ``rate(1 minute)``, and the constant
input ``{"job": "<name>"}``), or one rule without input that runs every job. Jobs must be
harmless twice (command ids), so EventBridge's retries of a failed invocation are too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import structlog

from eventfold.entry.aws_lambda.invocations import (
    LambdaHandler,
    configure_lambda_logging,
    logged_invocations,
)
from eventfold.entry.service import Job

log = structlog.stdlib.get_logger(__name__)


def jobs_handler(jobs: Sequence[Job]) -> LambdaHandler:
    """A handler running the job named by the event's ``"job"`` (every job when the event
    names none) and answering ``{"ran": [names]}``.

    An unknown name is a ValueError listing the known ones. A job that raises is logged,
    the others still run, and the invocation then fails naming the failed jobs (so the
    function's error metric and EventBridge's retries see it)."""
    by_name = {job.name: job for job in jobs}

    def handle(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        name = event.get("job")
        if name is None:
            chosen = list(jobs)
        elif name in by_name:
            chosen = [by_name[name]]
        else:
            raise ValueError(
                f"no job named {name!r}; the services declare {sorted(by_name) or 'none'}"
            )
        failed = []
        for job in chosen:
            try:
                job.run()
            except Exception:
                log.exception("job failed", job=job.name)
                failed.append(job.name)
        if failed:
            raise RuntimeError(f"jobs failed (see the log): {', '.join(failed)}")
        return {"ran": [job.name for job in chosen]}

    configure_lambda_logging()
    return logged_invocations(handle)

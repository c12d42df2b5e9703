"""The partner-hold saga wired into the service: its subscription and its deadline job.

The saga runs only when the partner's URL is configured
(``EVENTFOLD_WEBHOOKS=reservations-partner=http://…``). Without it, nothing is subscribed
(a warning names the setting): no hold is placed and nothing is recorded as done, and once
the URL is set the subscription starts from the first reservation, so no reservation is
missed — the repo's rule for a partner that is not configured. ``make run`` with the
defaults therefore runs without it.

The runner (:class:`eventfold.workflows.WorkflowRunner`) gets the service's codec plus the
saga's own events (JSON), the effects ledger and the deadline index on the query-model
database, and :func:`reservations.app.in_session` to send commands in its own session.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import structlog

from eventfold import CommandHandler, EventCodec
from eventfold.router import EventFilter, Subscription
from eventfold.sql import SqlEffectsLedger
from eventfold.web import Job, ServiceContext, job_seconds, mail_sender, query_engine, webhook_url
from eventfold.workflows import SqlDeadlineIndex, WorkflowCodec, WorkflowRunner
from reservations import app
from reservations.domain.partner_hold import CATEGORY, MailHoldRefused, partner_hold
from reservations.http import Clock, utc_now
from reservations.partner import PartnerClient, refusal_mailer

PARTNER_WEBHOOK = "reservations-partner"
"""The partner's hold API, by name (``EVENTFOLD_WEBHOOKS=reservations-partner=URL``)."""
SUBSCRIPTION = "reservations_partner_hold"
JOB_NAME = "partner-hold-deadlines"

log = structlog.get_logger("reservations.saga")


def saga_runner(
    context: ServiceContext, codec: EventCodec, *, clock: Clock = utc_now
) -> WorkflowRunner | None:
    """The saga's runner, or None (and a warning) when the partner is not configured."""
    url = webhook_url(context, PARTNER_WEBHOOK)
    if url is None:
        log.warning(
            "partner not configured: the partner-hold saga does not run",
            subscription=SUBSCRIPTION,
            fix=f"set EVENTFOLD_WEBHOOKS={PARTNER_WEBHOOK}=https://…",
        )
        return None
    engine = query_engine(context)
    handler = CommandHandler(context.store, WorkflowCodec(codec), attempts=app.ATTEMPTS)
    performers = {
        **PartnerClient(url).performers(),
        MailHoldRefused: refusal_mailer(mail_sender(context)),
    }
    return WorkflowRunner(
        partner_hold,
        handler,
        app.in_session,
        performers,
        SqlEffectsLedger(engine),
        SqlDeadlineIndex(engine),
        clock=clock,
    )


def saga_subscription(runner: WorkflowRunner) -> Subscription:
    wanted = EventFilter(categories=runner.categories("reservation"))
    return Subscription(SUBSCRIPTION, runner, wanted, batch_size=100)


def saga_subscriptions(context: ServiceContext, codec: EventCodec) -> Sequence[Subscription]:
    runner = saga_runner(context, codec)
    return [] if runner is None else [saga_subscription(runner)]


def deadline_job(runner: WorkflowRunner, every: float, clock: Clock = utc_now) -> Job:
    def fire() -> list[str]:
        now: datetime = clock()
        return runner.fire_due(now)

    return Job(name=JOB_NAME, every=every, run=fire)


def saga_jobs(context: ServiceContext, codec: EventCodec) -> Sequence[Job]:
    runner = saga_runner(context, codec)
    return [] if runner is None else [deadline_job(runner, job_seconds(context))]


__all__ = ["CATEGORY", "PARTNER_WEBHOOK", "SUBSCRIPTION", "saga_runner"]

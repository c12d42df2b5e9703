"""What a service reads from its :class:`~eventfold.entry.service.ServiceContext`, with the
embedded defaults where the entry point configured nothing; exported by
:mod:`eventfold.web`.

The entry points build the context from the settings
(:func:`eventfold.entry.composition.service_context`); services call these from their
``routes``, ``subscriptions`` and ``jobs`` factories.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine

from eventfold.adapters.mail.smtp import SmtpMailer
from eventfold.adapters.sql.migrate import AppliedRevision, migrate
from eventfold.core.reactions.effects import EffectPerformer
from eventfold.core.router.ports import TracksVersions
from eventfold.entry.http.reads import ReadYourWrites
from eventfold.entry.http.runners import QueryRunner, query_runner, store_reader
from eventfold.entry.service import Service, ServiceContext

DEFAULT_SMTP = ("127.0.0.1", 8025)


def query_engine(context: ServiceContext) -> Engine:
    """The query-model engine: the configured one, or else the embedded default on the
    SQLite file beside the event store's, one per context (:meth:`ServiceContext.engine`)."""
    return context.engine()


def read_wait_seconds(context: ServiceContext) -> float:
    """How long a read-your-writes request may wait (EVENTFOLD_READ_WAIT)."""
    return context.read_wait


def read_your_writes(context: ServiceContext, target: TracksVersions) -> ReadYourWrites:
    """What a query route awaits for ``?min_version=``: waits on ``target`` (the service's
    SQL projection) for up to :func:`read_wait_seconds`, asking the context's event store
    first whether the version exists at all (see :mod:`eventfold.entry.http.reads`)."""
    engine = getattr(target, "engine", None)
    on_target = query_runner(engine) if isinstance(engine, Engine) else QueryRunner(inline=False)
    return ReadYourWrites(
        target,
        context.store,
        timeout=context.read_wait,
        run_target=on_target,
        run_store=store_reader(context.store),
    )


def job_seconds(context: ServiceContext) -> float:
    """How often a periodic job (:class:`~eventfold.entry.service.Job`) should run
    (EVENTFOLD_JOB_SECONDS)."""
    return context.job_seconds


def mail_sender(context: ServiceContext) -> EffectPerformer:
    """The Email performer: the context's, or SMTP to 127.0.0.1:8025 (a context built by
    hand, e.g. in a test, that names none; the entry points always name one)."""
    sender = context.send_email
    return sender if sender is not None else SmtpMailer(*DEFAULT_SMTP)


def webhook_url(context: ServiceContext, name: str) -> str | None:
    """The URL configured for the webhook ``name``. None: not configured; a service then
    leaves that partner's subscription out (or its calls fail for good as "not
    configured"), never marks them done."""
    return context.webhook_urls.get(name)


def migrate_query_model(
    services: Sequence[Service], context: ServiceContext
) -> list[AppliedRevision]:
    """Upgrade the query-model schema of ``services`` (eventfold's own tables, then each
    service's ``migrations`` branch) on the context's engine; what the entry points run at
    startup, before any route or subscription touches the tables. Nothing happens (and no
    engine is needed) when no service declares migrations."""
    folders = [s.migrations for s in services if s.migrations is not None]
    if not folders:
        return []
    return migrate(query_engine(context), *folders)

"""What the read side of a service takes from :attr:`ServiceContext.resources`, by name,
with the embedded defaults when an entry point did not put anything there.

Entry points fill the resources from the settings (:func:`read_side_resources`); services
read them through the helpers here from their ``routes`` and ``subscriptions`` factories, so
both share one query-model engine per context, whichever entry point (``eventfold run``,
``eventfold worker``, ``eventfold rebuild``, a test) built the context.
"""

from __future__ import annotations

import sqlite3
import urllib.request
from collections.abc import Mapping, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

from eventfold.adapters.projections.engine import create_engine, sqlite_url
from eventfold.adapters.projections.migrate import AppliedRevision, migrate
from eventfold.adapters.store.sqlite import SqliteEventStore
from eventfold.adapters.targets.mail_folder import MailFolder
from eventfold.adapters.targets.smtp import SmtpMailer
from eventfold.core.reactions.effects import EffectPerformer
from eventfold.core.router.ports import TracksVersions
from eventfold.entry.http.app import ReadinessCheck
from eventfold.entry.http.callers import (
    Authentication,
    ClaimNames,
    LocalSigningKey,
    jwks_verifier,
)
from eventfold.entry.http.reads import QueryRunner, ReadYourWrites, query_runner, store_runner
from eventfold.entry.service import Service, ServiceContext
from eventfold.entry.settings import DEFAULT_JOB_SECONDS, DEFAULT_READ_WAIT_SECONDS, Settings
from eventfold.errors import ConfigurationError

QUERY_ENGINE = "query_engine"
"""resources key: the SQLAlchemy Engine of the query model."""
READ_WAIT_SECONDS = "read_wait_seconds"
"""resources key: how long a read with ``min_version`` waits for the query model (float)."""
SEND_EMAIL = "send_email"
"""resources key: the performer of Email effects (an SmtpMailer)."""
WEBHOOK_URLS = "webhook_urls"
"""resources key: webhook name -> URL (a name left out: not configured, see :func:`webhook_url`)."""
JOB_SECONDS = "job_seconds"
"""resources key: how often the services' periodic jobs run, in seconds (float)."""

DEFAULT_SMTP = ("127.0.0.1", 8025)


def read_side_resources(settings: Settings) -> dict[str, Any]:
    """The resources an entry point puts in the context, from the settings."""
    resources: dict[str, Any] = {
        READ_WAIT_SECONDS: settings.read_wait,
        SEND_EMAIL: local_or_smtp_mail(settings),
        WEBHOOK_URLS: dict(settings.webhooks),
        JOB_SECONDS: settings.job_seconds,
    }
    if settings.query_url:
        resources[QUERY_ENGINE] = create_engine(settings.query_url)
    return resources


def readiness_checks(
    context: ServiceContext, router_metrics_url: str | None = None
) -> dict[str, ReadinessCheck]:
    """What ``GET /readyz`` asks: the event store and the query model answer a read, and the
    router process (when this HTTP process has one beside it) answers on its metrics."""

    def event_store() -> str | None:
        context.store.load("readyz-probe")
        return None

    def query_model() -> str | None:
        with query_engine(context).connect() as conn:
            conn.execute(text("SELECT 1"))
        return None

    checks: dict[str, ReadinessCheck] = {"event store": event_store, "query model": query_model}
    if router_metrics_url:
        url = router_metrics_url

        def router() -> str | None:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    response.read(1)
            except OSError as exc:
                return f"the router process does not answer ({exc})"
            return None

        checks["router"] = router
    return checks


def http_authentication(settings: Settings) -> Authentication:
    """How the HTTP API knows its callers: the issuer's JWKS when EVENTFOLD_JWT_JWKS_URL is
    set, else the local key in the home folder (created on first use; ``eventfold token``
    signs with it). Claims verified by API Gateway's JWT authorizer are taken as they are."""
    claims = ClaimNames(
        subject=settings.jwt_subject_claim,
        roles=settings.jwt_role_claim,
        stores=settings.jwt_stores_claim,
    )
    if settings.jwt_jwks_url:
        assert settings.jwt_issuer is not None  # Settings checks both are set
        assert settings.jwt_audience is not None
        verify = jwks_verifier(
            settings.jwt_jwks_url, issuer=settings.jwt_issuer, audience=settings.jwt_audience
        )
        return Authentication(verify, claims)
    return Authentication(LocalSigningKey.in_home(settings.home).verifier(), claims)


def local_or_smtp_mail(settings: Settings) -> EffectPerformer:
    """E-mail as the settings say: ``.eml`` files in EVENTFOLD_HOME/mail (the embedded
    default, EVENTFOLD_MAIL_SINK=on: no server, no port), or SMTP to EVENTFOLD_SMTP_HOST and
    EVENTFOLD_SMTP_PORT (EVENTFOLD_MAIL_SINK=off)."""
    if settings.mail_sink:
        return MailFolder(settings.mail_folder, sender=settings.mail_from)
    return SmtpMailer(settings.smtp_host, settings.mail_port, sender=settings.mail_from)


def read_side_database(store: SqliteEventStore) -> Path:
    """The SQLite file of the embedded read side (query model, effects ledger, router
    state): ``<store>-query.db`` beside the event store's file (``eventfold-query.db``).

    Not the event store's own file: the router's writes (projections, ledger, checkpoints)
    would queue on the same write lock as the commands (measured: HTTP throughput 0.5x of
    the same server without a router). In their own file they wait for nothing but each
    other, and they are consistent with each other (one file, one WAL): a power cut that
    loses the last read-side commits loses the rows and their checkpoints together, and the
    router applies those events again from the event store, which fsyncs every commit.
    A home made before the split keeps everything in the event store's file."""
    legacy = store.path.exists() and _holds_read_side(store.path)
    return store.path if legacy else store.path.with_name(f"{store.path.stem}-query.db")


def _holds_read_side(path: Path) -> bool:
    with closing(sqlite3.connect(path)) as db:
        return bool(
            db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'router_checkpoints'"
            ).fetchone()
        )


def query_engine(context: ServiceContext) -> Engine:
    """The query-model engine: ``resources["query_engine"]``, or else (the embedded default)
    one on the SQLite file :func:`read_side_database` names, remembered in the context."""
    engine = context.resources.get(QUERY_ENGINE)
    if engine is None:
        if not isinstance(context.store, SqliteEventStore):
            raise ConfigurationError(
                "no query-model database configured: set EVENTFOLD_QUERY_URL (e.g. "
                "mysql+pymysql://user@host:3306/db) when the event store is not SQLite"
            )
        engine = create_engine(sqlite_url(read_side_database(context.store)))
        context.resources[QUERY_ENGINE] = engine
    if not isinstance(engine, Engine):
        raise ConfigurationError(f"resources[{QUERY_ENGINE!r}] is not a SQLAlchemy Engine")
    return engine


def read_wait_seconds(context: ServiceContext) -> float:
    """How long a read-your-writes request may wait (``resources["read_wait_seconds"]``)."""
    return float(context.resources.get(READ_WAIT_SECONDS, DEFAULT_READ_WAIT_SECONDS))


def read_your_writes(context: ServiceContext, target: TracksVersions) -> ReadYourWrites:
    """What a query route awaits for ``?min_version=``: waits on ``target`` (the service's
    SQL projection) for up to :func:`read_wait_seconds`, asking the context's event store
    first whether the version exists at all (see :mod:`eventfold.entry.http.reads`)."""
    engine = getattr(target, "engine", None)
    on_target = query_runner(engine) if isinstance(engine, Engine) else QueryRunner(inline=False)
    return ReadYourWrites(
        target,
        context.store,
        timeout=read_wait_seconds(context),
        run_target=on_target,
        run_store=store_runner(context.store),
    )


def job_seconds(context: ServiceContext) -> float:
    """How often a periodic job (:class:`~eventfold.entry.service.Job`) should run
    (``resources["job_seconds"]``, EVENTFOLD_JOB_SECONDS)."""
    return float(context.resources.get(JOB_SECONDS, DEFAULT_JOB_SECONDS))


def mail_sender(context: ServiceContext) -> EffectPerformer:
    """The Email performer: ``resources["send_email"]``, or SMTP to the local sink's
    default address (127.0.0.1:8025)."""
    sender: EffectPerformer | None = context.resources.get(SEND_EMAIL)
    return sender if sender is not None else SmtpMailer(*DEFAULT_SMTP)


def webhook_url(context: ServiceContext, name: str) -> str | None:
    """The URL configured for the webhook ``name``. None: not configured; a service then
    leaves that partner's subscription out (or its calls fail for good as "not
    configured"), never marks them done."""
    urls: Mapping[str, str] = context.resources.get(WEBHOOK_URLS, {})
    return urls.get(name)


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

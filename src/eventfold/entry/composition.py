"""The composition root: every running part an entry point needs, built from
:class:`~eventfold.entry.settings.Settings` here and nowhere else.

Each entry point reads as settings -> composition -> run:

- the :class:`~eventfold.entry.service.ServiceContext` the services are built with
  (:func:`service_context`: the event store, the query-model engine, the mailer, the
  webhooks, the read wait and the job period);
- the HTTP app's parts (:func:`http_authentication`, :func:`readiness_checks`, and
  :func:`http_app` putting them together with the body limit);
- the router's parts (:func:`router_parts`: the feed ``EVENTFOLD_FEED`` names and the
  router state beside the store) and the router started on them (:func:`router_runner`,
  :func:`route_until_signalled`);
- on AWS Lambda, every handler on one context (:func:`lambda_entry_points`).

``eventfold run``/``serve-http``, ``eventfold worker``, the operations commands and
``eventfold migrate`` compose through :func:`service_context`; a Lambda handler module
through :func:`lambda_entry_points`.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy import text

from eventfold.adapters.mail.mail_folder import MailFolder
from eventfold.adapters.mail.smtp import SmtpMailer
from eventfold.adapters.sql.engine import create_engine
from eventfold.adapters.sqlite.event_store import SqliteEventStore
from eventfold.adapters.sqlite.feed import SqliteFeed
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.core.app.handler import OutcomeCounter
from eventfold.core.ports import EventStore
from eventfold.core.reactions.effects import EffectPerformer
from eventfold.entry.console import ConsoleState, console_runner, mount_console
from eventfold.entry.console import new_state as new_console_state
from eventfold.entry.console.history import router_freshness
from eventfold.entry.context_reads import query_engine
from eventfold.entry.http import BackgroundRunner, create_app
from eventfold.entry.http.app import ReadinessCheck
from eventfold.entry.http.callers import (
    Authentication,
    ClaimNames,
    LocalSigningKey,
    jwks_verifier,
)
from eventfold.entry.http.metrics import HttpMetrics
from eventfold.entry.read_side import read_side_database
from eventfold.entry.service import Service, ServiceContext
from eventfold.entry.settings import Settings, open_store
from eventfold.entry.telemetry import Telemetry
from eventfold.entry.worker import (
    HeadOfFeed,
    LiveFeed,
    RouterParts,
    jobs_of,
    queue_head,
    read_to_end,
    run_until_signalled,
    start_router,
    subscriptions_of,
)
from eventfold.errors import ConfigurationError

if TYPE_CHECKING:
    from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
    from eventfold.adapters.aws.router_state import DynamoDBRouterState
    from eventfold.entry.aws_lambda import LambdaHandler, RouterHandlers


# -- the services' context ------------------------------------------------------------------
@contextmanager
def service_context(
    settings: Settings, *, command_outcomes: OutcomeCounter | None = None
) -> Iterator[ServiceContext]:
    """The configured event store (closed when the block ends) in the context the settings
    describe: what every entry point running the services builds them with.
    ``command_outcomes``: where the services' command handlers count how commands end."""
    with open_store(settings) as store:
        yield context_on(store, settings, command_outcomes=command_outcomes)


def context_on(
    store: EventStore, settings: Settings, *, command_outcomes: OutcomeCounter | None = None
) -> ServiceContext:
    """The context of the settings around an event store that is already open."""
    return ServiceContext(
        store,
        query_engine=create_engine(settings.query_url) if settings.query_url else None,
        send_email=local_or_smtp_mail(settings),
        webhook_urls=dict(settings.webhooks),
        read_wait=settings.read_wait,
        job_seconds=settings.job_seconds,
        command_outcomes=command_outcomes,
    )


def local_or_smtp_mail(settings: Settings) -> EffectPerformer:
    """E-mail as the settings say: ``.eml`` files in EVENTFOLD_HOME/mail (the embedded
    default, EVENTFOLD_MAIL_SINK=on: no server, no port), or SMTP to EVENTFOLD_SMTP_HOST and
    EVENTFOLD_SMTP_PORT (EVENTFOLD_MAIL_SINK=off)."""
    if settings.mail_sink:
        return MailFolder(settings.mail_folder, sender=settings.mail_from)
    return SmtpMailer(settings.smtp_host, settings.mail_port, sender=settings.mail_from)


# -- the HTTP app ---------------------------------------------------------------------------
def http_app(
    settings: Settings,
    services: Sequence[Service],
    context: ServiceContext,
    *,
    router_metrics_url: str | None = None,
    metrics: CollectorRegistry | None = None,
    http_metrics: HttpMetrics | None = None,
    console: bool = False,
) -> FastAPI:
    """The services' HTTP app as the settings configure it: who may call
    (:func:`http_authentication`), what ``/readyz`` asks (:func:`readiness_checks`) and
    the largest request body (EVENTFOLD_MAX_BODY_BYTES). ``console``: also serve the
    operator console at ``/console`` (:func:`console_parts`)."""
    runners: list[BackgroundRunner] = []
    state = None
    if console:
        state, runner = console_parts(settings, services, context, router_metrics_url)
        runners.append(runner)
    return create_app(
        services,
        context,
        authentication=http_authentication(settings),
        readiness=readiness_checks(context, router_metrics_url),
        metrics=metrics,
        http_metrics=http_metrics,
        max_body_bytes=settings.max_body_bytes,
        runners=runners,
        pages=None if state is None else partial(mount_console, state=state),
    )


def console_app(
    settings: Settings, services: Sequence[Service], context: ServiceContext
) -> FastAPI:
    """The operator console alone (``eventfold console``): ``/console``, ``/healthz`` and
    ``/readyz``, on the router state the settings name, no service routes."""
    state, runner = console_parts(settings, services, context)
    return create_app(
        [],
        context,
        authentication=http_authentication(settings),
        readiness=readiness_checks(context),
        runners=[runner],
        title="eventfold console",
        max_body_bytes=settings.max_body_bytes,
        pages=partial(mount_console, state=state),
    )


def console_parts(
    settings: Settings,
    services: Sequence[Service],
    context: ServiceContext,
    router_metrics_url: str | None = None,
) -> tuple[ConsoleState, BackgroundRunner]:
    """The operator console's state and the runner that opens the router state the
    settings name for it (freshness comes from the router process's metrics, when the
    console runs beside one)."""
    state = new_console_state()
    freshness = router_freshness(router_metrics_url) if router_metrics_url else dict
    runner = console_runner(state, services, context, _opener(settings, context.store), freshness)
    return state, runner


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


# -- the router -----------------------------------------------------------------------------
def router_runner(
    settings: Settings,
    services: Sequence[Service],
    context: ServiceContext,
    telemetry: Telemetry,
) -> BackgroundRunner:
    """A background runner for the HTTP app: the router (on the parts the settings name)
    lives as long as the app."""
    return lambda: start_router(services, context, _opener(settings, context.store), telemetry)


def route_until_signalled(
    settings: Settings,
    services: Sequence[Service],
    context: ServiceContext,
    telemetry: Telemetry,
    *,
    ready: Callable[[], None] = lambda: None,
) -> None:
    """Run the router on the parts the settings name until SIGTERM or SIGINT."""
    opener = _opener(settings, context.store)
    run_until_signalled(services, context, opener, telemetry, ready=ready)


def _opener(settings: Settings, store: EventStore) -> Callable[[], RouterParts]:
    return lambda: router_parts(settings, store)


def router_parts(settings: Settings, store: EventStore) -> RouterParts:
    """The feed ``settings.router_feed`` names and the router state beside the store
    (:func:`router_state`), with the settings' outage policy and turn."""
    parts = _feed_and_state(settings, store)
    parts.outages = settings.outages
    parts.turn_wait = settings.router_turn_wait
    return parts


def _feed_and_state(settings: Settings, store: EventStore) -> RouterParts:
    state = router_state(settings, store)
    linger = settings.router_linger
    if isinstance(store, SqliteEventStore):
        assert isinstance(state, SqliteRouterState)
        feed = SqliteFeed(store) if settings.router_feed == "sqlite" else _queue_feed(settings)
        return RouterParts.on(feed, state, closers=[state.close], linger=linger)
    dynamodb = _dynamodb_store(store, settings)
    wait = max(0.5, settings.feed_poll_interval)  # one read per interval per subscription
    if settings.router_feed == "streams":
        feed = _streams_feed(settings, dynamodb)
        return RouterParts.on(feed, state, poll_timeout=wait, linger=linger)
    if settings.router_feed == "kinesis":
        feed = _kinesis_feed(settings, dynamodb)
        return RouterParts.on(feed, state, poll_timeout=wait, linger=linger)
    return RouterParts.on(_queue_feed(settings), state, linger=linger)


def router_state(settings: Settings, store: EventStore) -> SqliteRouterState | DynamoDBRouterState:
    """Where the router keeps its checkpoints, applied versions and parked streams: the
    embedded read side's SQLite file (:func:`read_side_database`), or the DynamoDB
    checkpoints table of the store's prefix."""
    if isinstance(store, SqliteEventStore):
        # The router's bookkeeping never needs an fsync of its own: a checkpoint lost to a
        # power cut only replays events, and the version checks and the effects ledger make
        # replays harmless. Only the event store pays for durability (EVENTFOLD_DURABILITY).
        return SqliteRouterState(read_side_database(store), durability="normal")
    dynamodb = _dynamodb_store(store, settings)
    from eventfold.adapters.aws.router_state import DynamoDBRouterState

    return DynamoDBRouterState(dynamodb.client, dynamodb.tables)


# -- Lambda ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class LambdaEntryPoints:
    """Every Lambda handler of the services, all on one context; a handler module builds
    them once per container and names the ones its functions use::

        entry = lambda_entry_points(load_settings(os.environ), installed_services())
        handle_dynamodb_stream = entry.router.dynamodb_stream
        handle_http = entry.http
        handle_jobs = entry.jobs
    """

    context: ServiceContext
    router: RouterHandlers
    """The router's handlers (DynamoDB Streams, Kinesis, SQS, Pipes, Lambda invocations) on
    the router state."""
    http: LambdaHandler
    """The HTTP app behind API Gateway (no background runners: the router is its own)."""
    jobs: LambdaHandler
    """The services' periodic jobs, for a schedule to invoke."""


def lambda_entry_points(settings: Settings, services: Sequence[Service]) -> LambdaEntryPoints:
    """The Lambda handlers as the settings configure them: the event store, the context
    (:func:`context_on`), the router state beside the store (:func:`router_state`; only
    the events table's changes are events) with the router's metrics as EMF lines
    (:class:`~eventfold.entry.aws_lambda.metrics.LambdaMetrics`, flushed after each
    invocation), the HTTP app (:func:`http_app`) and the jobs.

    The store stays open for the container's life: a Lambda container has no shutdown to
    close it in. Migrations are a deploy step (``eventfold migrate``), not run here."""
    from eventfold.entry.aws_lambda import (
        RouterHandlers,
        http_handler,
        jobs_handler,
        router_handlers,
    )
    from eventfold.entry.aws_lambda.metrics import LambdaMetrics

    store = ExitStack().enter_context(open_store(settings))  # never closed, see above
    context = context_on(store, settings)
    state = router_state(settings, store)
    events_table = None
    if not isinstance(store, SqliteEventStore):
        events_table = _dynamodb_store(store, settings).tables.events
    subscriptions = subscriptions_of(services, context)
    metrics = LambdaMetrics(state, [s.name for s in subscriptions], also=Telemetry())
    router = router_handlers(
        subscriptions,
        store,
        versions=state,
        parking=state,
        events_table=events_table,
        observer=metrics,
    )
    return LambdaEntryPoints(
        context,
        RouterHandlers(
            metrics.published(router.dynamodb_stream),
            metrics.published(router.kinesis),
            metrics.published(router.sqs),
            metrics.published(router.pipe),
            metrics.published(router.lambda_invocation),
        ),
        http_handler(http_app(settings, services, context), access_log=settings.access_log),
        jobs_handler(jobs_of(services, context)),
    )


def _dynamodb_store(store: EventStore, settings: Settings) -> DynamoDBEventStore:
    no_feed = ConfigurationError(
        f"the router has no feed for a {type(store).__name__}: set EVENTFOLD_STORE to "
        f"sqlite or dynamodb (EVENTFOLD_STORE={settings.store})"
    )
    try:  # boto3 is the optional eventfold[aws] extra: without it there is no such store
        from eventfold.adapters.aws.dynamodb_store import DynamoDBEventStore
    except ImportError:
        raise no_feed from None
    if not isinstance(store, DynamoDBEventStore):
        raise no_feed
    return store


def _streams_feed(settings: Settings, store: DynamoDBEventStore) -> LiveFeed:
    """The events table's DynamoDB stream, from its oldest record (TRIM_HORIZON): a new
    subscription on an older table gets the rest with `eventfold rebuild`."""
    from eventfold.adapters.aws.clients import dynamodb_streams_client
    from eventfold.adapters.aws.streams_feed import DynamoDBStreamsFeed, latest_stream_arn

    arn = latest_stream_arn(store.client, store.tables.events, store.backoff)
    streams = dynamodb_streams_client(
        region=store.client.meta.region_name, endpoint_url=settings.aws_endpoint_url
    )
    feed = DynamoDBStreamsFeed(streams, arn, poll_interval=settings.feed_poll_interval)
    return HeadOfFeed(feed, read_to_end)


def _kinesis_feed(settings: Settings, store: DynamoDBEventStore) -> LiveFeed:
    """The Kinesis data stream the events table streams into (out of order and twice is
    fine: the router heals from the events table)."""
    from eventfold.adapters.aws.clients import kinesis_client
    from eventfold.adapters.aws.kinesis_feed import KinesisFeed

    client = kinesis_client(region=settings.aws_region, endpoint_url=settings.aws_endpoint_url)
    feed = KinesisFeed(
        client,
        settings.kinesis_stream_name,
        events_table=store.tables.events,
        poll_interval=settings.feed_poll_interval,
    )
    return HeadOfFeed(feed, read_to_end)


def _queue_feed(settings: Settings) -> LiveFeed:
    """An SQS queue another router's SQS/SNS target fills (one queue per subscription)."""
    if settings.sqs_queue_url is None:  # load_settings refuses this already
        raise ConfigurationError("EVENTFOLD_FEED=sqs needs EVENTFOLD_SQS_QUEUE_URL")
    try:
        from eventfold.adapters.aws.compose import queue_feed
    except ImportError as exc:
        raise ConfigurationError(
            f"EVENTFOLD_FEED=sqs needs boto3 ({exc}): pip install 'eventfold[aws]'"
        ) from exc
    feed = queue_feed(
        settings.sqs_queue_url, region=settings.aws_region, endpoint_url=settings.aws_endpoint_url
    )
    return HeadOfFeed(feed, queue_head)

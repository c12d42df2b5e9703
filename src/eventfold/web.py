"""eventfold's web facade: what a service needs to publish HTTP routes (the ``[http]`` extra).

Reference services import from here (and from ``eventfold``), never from
``eventfold.entry``. A service is a :class:`Service` whose ``routes`` factory gets the
:class:`ServiceContext` and returns a FastAPI ``APIRouter``; errors raised from eventfold's
error tree are answered as RFC 9457 problem+json by :func:`create_app`. A service's read
side takes its query-model engine from :func:`query_engine` (the embedded default when the
entry point configured none), its read-your-writes bound from :func:`read_wait_seconds` and
the wait itself from :func:`read_your_writes` (an ``async`` wait that holds no thread); its
``async`` routes run their blocking queries with :func:`query_runner`; request bodies count
``3.0`` as the integer JSON Schema says it is with :data:`JsonInt`; the
e-mail performer from :func:`mail_sender` and partner URLs from :func:`webhook_url`.
Who calls: a route takes a :data:`Caller` (the authenticated :class:`Actor`; 401 without a
valid bearer token) or is marked ``dependencies=[PUBLIC]``; a command route takes a
:data:`CommandOrigin` (the caller plus its Idempotency-Key, scoped to that caller) and hands
it to the command handler, which records it on every event. An ``async`` route whose one
dependency is one of those three, built with ``APIRouter(route_class=FastPathRoute)``,
answers well-formed requests on a fast path past FastAPI's dependency solving (every
error still takes FastAPI's own). A service that builds its routes from several routers
joins them with :func:`include_routes` (one match per request, where FastAPI's
``include_router`` matches twice). The app's
:class:`Authentication` comes from the composition root.
:func:`migrate_query_model` applies the services' migrations (``Service.migrations``) on
that engine, as the entry points do at startup; a test composing a context calls it too.
A service's periodic :class:`Job` values (``Service.jobs``) run where the router runs; a job
names its own period, and :func:`job_seconds` is the configured one (EVENTFOLD_JOB_SECONDS).
"""

from eventfold.entry.extras import require_extra

require_extra("eventfold.web", "http")

from eventfold.entry.context_reads import (
    job_seconds,
    mail_sender,
    migrate_query_model,
    query_engine,
    read_wait_seconds,
    read_your_writes,
    webhook_url,
)
from eventfold.entry.http import (
    PUBLIC,
    Authentication,
    BackgroundRunner,
    Caller,
    ClaimNames,
    CommandOrigin,
    FastPathRoute,
    IdempotencyKey,
    LocalSigningKey,
    StopRunner,
    TokenVerifier,
    create_app,
    jwks_verifier,
    require_role,
)
from eventfold.entry.http.flat_routes import include_routes
from eventfold.entry.http.inputs import JsonInt
from eventfold.entry.http.reads import ReadYourWrites
from eventfold.entry.http.runners import QueryRunner, query_runner, store_reader, store_runner
from eventfold.entry.service import (
    Job,
    JobsFactory,
    RoutesFactory,
    Service,
    ServiceContext,
    SubscriptionsFactory,
    installed_services,
)

__all__ = [
    "PUBLIC",
    "Authentication",
    "BackgroundRunner",
    "Caller",
    "ClaimNames",
    "CommandOrigin",
    "FastPathRoute",
    "IdempotencyKey",
    "Job",
    "JobsFactory",
    "JsonInt",
    "LocalSigningKey",
    "QueryRunner",
    "ReadYourWrites",
    "RoutesFactory",
    "Service",
    "ServiceContext",
    "StopRunner",
    "SubscriptionsFactory",
    "TokenVerifier",
    "create_app",
    "include_routes",
    "installed_services",
    "job_seconds",
    "jwks_verifier",
    "mail_sender",
    "migrate_query_model",
    "query_engine",
    "query_runner",
    "read_wait_seconds",
    "read_your_writes",
    "require_role",
    "store_reader",
    "store_runner",
    "webhook_url",
]

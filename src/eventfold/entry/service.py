"""How a service plugs into eventfold's entry points.

A service (the reference services under ``examples/``, or yours) is a plain
:class:`Service` value. Installed services announce themselves under the
``eventfold.services`` entry-point group; ``eventfold run`` mounts every one it finds.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

from fastapi import APIRouter
from sqlalchemy import Engine

from eventfold.core.app.handler import OutcomeCounter
from eventfold.core.ports import EventStore
from eventfold.core.reactions.effects import EffectPerformer
from eventfold.domain.codecs import EventCodec
from eventfold.entry.read_side import embedded_query_engine
from eventfold.entry.settings import DEFAULT_JOB_SECONDS, DEFAULT_READ_WAIT_SECONDS
from eventfold.errors import ConfigurationError

T = TypeVar("T")


class _Once(Generic[T]):
    """A value made on first use, once, even when several threads ask first at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: T | None = None

    def get(self, make: Callable[[], T]) -> T:
        with self._lock:
            if self._value is None:
                self._value = make()
            return self._value


@dataclass(frozen=True)
class ServiceContext:
    """What the entry point hands a service when it builds it: the running parts its
    routes, subscriptions and jobs use, built from the settings by
    :func:`eventfold.entry.composition.service_context` (a test builds one directly; the
    defaults are the embedded ones).

    Services read it through :func:`eventfold.web.query_engine` and its siblings.
    """

    store: EventStore
    """The event store every service of the process shares."""
    query_engine: Engine | None = None
    """The query model's database (EVENTFOLD_QUERY_URL). None: the embedded default, a
    SQLite file beside the store's (see :meth:`engine`)."""
    send_email: EffectPerformer | None = None
    """The performer of Email effects. None: SMTP to the local sink's default address."""
    webhook_urls: Mapping[str, str] = field(default_factory=dict)
    """Webhook name -> URL (EVENTFOLD_WEBHOOKS); a name left out is not configured."""
    read_wait: float = DEFAULT_READ_WAIT_SECONDS
    """How long a read with ``min_version`` waits for the query model, in seconds."""
    job_seconds: float = DEFAULT_JOB_SECONDS
    """How often the services' periodic jobs run, in seconds (EVENTFOLD_JOB_SECONDS)."""
    command_outcomes: OutcomeCounter | None = None
    """Counts how the commands of the services' HTTP routes end (the ``/metrics`` of the
    HTTP entry point); a service passes it to its :class:`CommandHandler`."""
    _embedded_engine: _Once[Engine] = field(
        default_factory=_Once, init=False, repr=False, compare=False
    )

    def engine(self) -> Engine:
        """The query model's engine: :attr:`query_engine`, or else the embedded default,
        created on the first call and shared by every later one (one connection pool per
        context, whichever entry point or test built it)."""
        if self.query_engine is not None:
            return self.query_engine
        return self._embedded_engine.get(lambda: embedded_query_engine(self.store))


RoutesFactory = Callable[[ServiceContext], APIRouter]
"""Builds the service's HTTP routes (commands and queries)."""

SubscriptionsFactory = Callable[[ServiceContext], Sequence[Any]]
"""Builds the service's subscriptions (projections, reactions) for the router."""


def _no_subscriptions(_: ServiceContext) -> Sequence[Any]:
    return ()


@dataclass(frozen=True)
class Job:
    """Work a service runs every ``every`` seconds where its events are routed
    (``eventfold worker``, and ``eventfold run`` unless EVENTFOLD_ROUTER=off), e.g. a sweep
    that sends the commands time makes due. On Lambda a schedule invokes them
    (``eventfold.aws.jobs_handler``). Several processes may run it at once: ``run``
    must be harmless twice (command ids). An exception is logged; the job runs again next
    period."""

    name: str
    every: float
    run: Callable[[], object]

    def __post_init__(self) -> None:
        if not self.every > 0:
            raise ValueError(f"job {self.name!r}: every must be a positive number of seconds")


JobsFactory = Callable[[ServiceContext], Sequence[Job]]
"""Builds the service's periodic jobs."""


def _no_jobs(_: ServiceContext) -> Sequence[Job]:
    return ()


@dataclass(frozen=True)
class Service:
    """A service: its name, the codec of its events, the stream categories it owns, and
    factories for its routes, subscriptions and periodic jobs.

    ``description``: what the service is for, shown with its routes' tag in ``/docs``.
    ``migrations``: the folder of the Alembic revisions of its query-model tables (one
    branch, see :mod:`eventfold.sql`); the entry points upgrade it at startup."""

    name: str
    codec: EventCodec
    categories: tuple[str, ...]
    routes: RoutesFactory
    subscriptions: SubscriptionsFactory = _no_subscriptions
    description: str = ""
    migrations: Path | None = None
    jobs: JobsFactory = _no_jobs


ENTRY_POINT_GROUP = "eventfold.services"


def installed_services(names: Sequence[str] = ()) -> list[Service]:
    """The services installed under the ``eventfold.services`` entry-point group
    (only ``names``, in that order, when given)."""
    found = {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    wanted = list(names) or sorted(found)
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ConfigurationError(
            f"no installed service named {', '.join(missing)}; installed: "
            f"{', '.join(sorted(found)) or 'none'} (a service registers itself under the "
            f"'{ENTRY_POINT_GROUP}' entry-point group)"
        )
    services = []
    for name in wanted:
        service = found[name].load()
        if not isinstance(service, Service):
            raise ConfigurationError(f"entry point {name!r} is not an eventfold Service")
        services.append(service)
    return services

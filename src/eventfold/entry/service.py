"""How a service plugs into eventfold's entry points.

A service (the reference services under ``examples/``, or yours) is a plain
:class:`Service` value. Installed services announce themselves under the
``eventfold.services`` entry-point group; ``eventfold run`` mounts every one it finds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from eventfold.core.ports import EventStore
from eventfold.domain.codecs import EventCodec
from eventfold.errors import ConfigurationError


@dataclass
class ServiceContext:
    """What the entry point hands a service when it builds it.

    ``store`` is the event store every service of the process shares. ``resources`` carries
    what the read side adds (query-model engine, mailer, webhook client …) by name.
    """

    store: EventStore
    resources: dict[str, Any] = field(default_factory=dict)


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

"""The reservation service as an eventfold plug-in (entry point ``reservations``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from eventfold.router import Subscription
from eventfold.web import Job, Service, ServiceContext, include_routes
from reservations.app import make_handler
from reservations.expiry import expiry_job
from reservations.http import router
from reservations.projection import query_model, subscription
from reservations.published_language import PROTOBUF_CODEC
from reservations.queries import query_routes
from reservations.reactions import reaction_subscriptions
from reservations.saga import saga_jobs, saga_subscriptions


def routes(context: ServiceContext) -> APIRouter:
    commands = router(
        make_handler(context.store, PROTOBUF_CODEC, outcomes=context.command_outcomes)
    )
    include_routes(commands, query_routes(context, PROTOBUF_CODEC))
    return commands


def subscriptions(context: ServiceContext) -> Sequence[Subscription]:
    view = subscription(query_model(context, PROTOBUF_CODEC))
    return [
        view,
        *reaction_subscriptions(context, PROTOBUF_CODEC),
        *saga_subscriptions(context, PROTOBUF_CODEC),
    ]


def jobs(context: ServiceContext) -> Sequence[Job]:
    return [expiry_job(context, PROTOBUF_CODEC), *saga_jobs(context, PROTOBUF_CODEC)]


service = Service(
    name="reservations",
    codec=PROTOBUF_CODEC,
    categories=("reservation", "stock"),
    routes=routes,
    subscriptions=subscriptions,
    description="Store stock reservations (seed 004): customers hold units of a SKU at a "
    "store; staff secure, reject and hand them over.",
    migrations=Path(__file__).parent / "migrations" / "versions",
    jobs=jobs,
)

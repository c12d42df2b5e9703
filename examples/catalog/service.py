"""The catalog service as an eventfold plug-in (entry point ``catalog``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from catalog.app import JSON_CODEC, make_handler
from catalog.http import router
from catalog.projection import query_model, subscription
from catalog.queries import query_routes
from eventfold.router import Subscription
from eventfold.web import Service, ServiceContext, include_routes


def routes(context: ServiceContext) -> APIRouter:
    commands = router(make_handler(context.store, JSON_CODEC, outcomes=context.command_outcomes))
    include_routes(commands, query_routes(context, JSON_CODEC))
    return commands


def subscriptions(context: ServiceContext) -> Sequence[Subscription]:
    return [subscription(query_model(context, JSON_CODEC))]


service = Service(
    name="catalog",
    codec=JSON_CODEC,
    categories=("catalogitem",),
    routes=routes,
    subscriptions=subscriptions,
    description="A catalog of items (seed 002) registered through self-validating values.",
    migrations=Path(__file__).parent / "migrations" / "versions",
)

"""The restaurant service as an eventfold plug-in (entry point ``restaurant``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fastapi import APIRouter

from eventfold.router import Subscription
from eventfold.web import Service, ServiceContext, include_routes
from restaurant.app import JSON_CODEC, make_handler
from restaurant.http import router
from restaurant.projection import query_model, subscription
from restaurant.publishing import menu_publishing
from restaurant.queries import query_routes


def routes(context: ServiceContext) -> APIRouter:
    commands = router(make_handler(context.store, JSON_CODEC, outcomes=context.command_outcomes))
    include_routes(commands, query_routes(context, JSON_CODEC))
    return commands


def subscriptions(context: ServiceContext) -> Sequence[Subscription]:
    """The query model, and the menu-publishing webhook when it is configured: the router
    fans every menu change out to both."""
    publishing = menu_publishing(context, JSON_CODEC)
    view = subscription(query_model(context, JSON_CODEC))
    return [view] if publishing is None else [view, publishing]


service = Service(
    name="restaurant",
    codec=JSON_CODEC,
    categories=("restaurant",),
    routes=routes,
    subscriptions=subscriptions,
    description="Restaurants and their menus (seed 000), edited with optimistic locking.",
    migrations=Path(__file__).parent / "migrations" / "versions",
)

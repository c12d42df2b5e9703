"""The restaurant service as an eventfold plug-in (entry point ``restaurant``)."""

from __future__ import annotations

from fastapi import APIRouter

from eventfold.web import Service, ServiceContext
from restaurant.app import JSON_CODEC, make_handler
from restaurant.http import router


def routes(context: ServiceContext) -> APIRouter:
    return router(make_handler(context.store, JSON_CODEC))


service = Service(
    name="restaurant",
    codec=JSON_CODEC,
    categories=("restaurant",),
    routes=routes,
    description="Restaurants and their menus (seed 000), edited with optimistic locking.",
)

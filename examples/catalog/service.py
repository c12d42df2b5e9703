"""The catalog service as an eventfold plug-in (entry point ``catalog``)."""

from __future__ import annotations

from fastapi import APIRouter

from catalog.app import JSON_CODEC, make_handler
from catalog.http import router
from eventfold.web import Service, ServiceContext


def routes(context: ServiceContext) -> APIRouter:
    return router(make_handler(context.store, JSON_CODEC))


service = Service(
    name="catalog",
    codec=JSON_CODEC,
    categories=("catalogitem",),
    routes=routes,
    description="A catalog of items (seed 002) registered through self-validating values.",
)

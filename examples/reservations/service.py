"""The reservation service as an eventfold plug-in (entry point ``reservations``)."""

from __future__ import annotations

from fastapi import APIRouter

from eventfold.web import Service, ServiceContext
from reservations.app import make_handler
from reservations.http import router
from reservations.published_language import PROTOBUF_CODEC


def routes(context: ServiceContext) -> APIRouter:
    return router(make_handler(context.store, PROTOBUF_CODEC))


service = Service(
    name="reservations",
    codec=PROTOBUF_CODEC,
    categories=("reservation", "stock"),
    routes=routes,
    description="Store stock reservations (seed 004): customers hold units of a SKU at a "
    "store; staff secure, reject and hand them over.",
)

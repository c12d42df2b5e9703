"""A reference service's query API over HTTP, for the query tests: its query model migrated
on the database under test, and an HTTP client on its routes."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from eventfold import SqliteEventStore
from eventfold.web import Service, ServiceContext, create_app, migrate_query_model
from tests.examples.callers import every_role, shared_issuer


def serve_queries(
    service: Service, store: SqliteEventStore, query_engine: Engine | None, *, read_wait: float
) -> tuple[ServiceContext, TestClient]:
    """The context (query model on ``query_engine``; None: the embedded default, the event
    store's own SQLite file) with the service's query tables migrated, and a client on the
    service. Reads asking for a ``min_version`` wait at most ``read_wait`` seconds."""
    context = ServiceContext(store, query_engine=query_engine, read_wait=read_wait)
    migrate_query_model([service], context)
    issuer = shared_issuer()
    app = create_app([service], context, authentication=issuer.authentication)
    return context, TestClient(app, headers=every_role(issuer))

"""The composition root: the typed context and the Lambda handlers, built from settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from fastapi import APIRouter

from eventfold import EventTypes, JsonCodec, SqliteEventStore
from eventfold.adapters.mail.mail_folder import MailFolder
from eventfold.entry.composition import (
    http_app,
    lambda_entry_points,
    router_parts,
    service_context,
)
from eventfold.entry.context_reads import job_seconds, query_engine, read_wait_seconds, webhook_url
from eventfold.entry.service import Job, Service, ServiceContext
from eventfold.entry.settings import load_settings
from eventfold.errors import ConfigurationError
from eventfold.web import PUBLIC
from tests.eventfold.entry.aws_lambda.proxy_events import http_api_event


def test_the_context_carries_what_the_settings_say(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "EVENTFOLD_HOME": str(tmp_path),
            "EVENTFOLD_READ_WAIT": "7",
            "EVENTFOLD_JOB_SECONDS": "30",
            "EVENTFOLD_WEBHOOKS": "staff=https://a.example/h",
        }
    )
    with service_context(settings) as context:
        assert (read_wait_seconds(context), job_seconds(context)) == (7.0, 30.0)
        assert webhook_url(context, "staff") == "https://a.example/h"
        assert webhook_url(context, "ops") is None
        assert isinstance(context.send_email, MailFolder)  # the embedded default: a folder
        assert context.query_engine is None  # no EVENTFOLD_QUERY_URL: the embedded default


def test_the_router_parts_carry_the_settings_turn(tmp_path: Path) -> None:
    settings = load_settings(
        {"EVENTFOLD_HOME": str(tmp_path), "EVENTFOLD_ROUTER_TURN_WAIT": "0.25"}
    )
    with service_context(settings) as context:
        parts = router_parts(settings, context.store)
        try:
            assert parts.turn_wait == 0.25
        finally:
            parts.close()


def test_the_embedded_engine_is_made_once_and_not_written_into_the_context(
    tmp_path: Path,
) -> None:
    store = SqliteEventStore(tmp_path / "eventfold.db")
    try:
        context = ServiceContext(store)
        engine = query_engine(context)
        assert query_engine(context) is engine
        assert context.query_engine is None
        with pytest.raises(dataclasses.FrozenInstanceError):
            context.read_wait = 1.0  # type: ignore[misc]
        engine.dispose()
    finally:
        store.close()


def test_the_lambda_handlers_compose_from_settings(tmp_path: Path) -> None:
    ran: list[str] = []
    service = Service(
        name="sweeper",
        codec=JsonCodec(EventTypes()),
        categories=("sweeper",),
        routes=lambda _: APIRouter(),
        jobs=lambda context: [Job("sweep", job_seconds(context), lambda: ran.append("sweep"))],
    )
    settings = load_settings({"EVENTFOLD_HOME": str(tmp_path), "EVENTFOLD_JOB_SECONDS": "5"})
    entry = lambda_entry_points(settings, [service])
    try:
        assert entry.jobs({"job": "sweep"}, None) == {"ran": ["sweep"]}
        assert ran == ["sweep"]
        assert entry.http(http_api_event("GET", "/healthz"), None)["statusCode"] == 200
        assert entry.router.sqs({"Records": []}, None) == {"batchItemFailures": []}
        assert entry.context.job_seconds == 5.0
    finally:
        assert isinstance(entry.context.store, SqliteEventStore)
        entry.context.store.close()


@pytest.mark.parametrize("path", ["/console", "/console/{rest:path}", "/{page}/login"])
def test_a_service_route_that_would_answer_the_console_is_refused(
    tmp_path: Path, path: str
) -> None:
    router = APIRouter()
    router.add_api_route(path, lambda: {}, methods=["GET"], dependencies=[PUBLIC])
    service = Service(
        name="toy",
        codec=JsonCodec(EventTypes()),
        categories=("toy",),
        routes=lambda _: router,
    )
    settings = load_settings({"EVENTFOLD_HOME": str(tmp_path)})
    with service_context(settings) as context, pytest.raises(ConfigurationError) as refused:
        http_app(settings, [service], context, console=True)
    assert f"its route GET {path} would answer eventfold's own /console" in str(refused.value)
    # without the console the same route is the service's
    with service_context(settings) as context:
        paths = [getattr(r, "path", "") for r in http_app(settings, [service], context).routes]
    assert path in paths

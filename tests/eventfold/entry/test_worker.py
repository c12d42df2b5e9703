"""The in-process router started with the HTTP app, its /metrics, and the composition."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from eventfold import ConfigurationError, EventTypes, JsonCodec, SqliteEventStore
from eventfold.entry.composition import router_runner
from eventfold.entry.http import create_app
from eventfold.entry.service import Service, ServiceContext
from eventfold.entry.settings import load_settings
from eventfold.entry.telemetry import Telemetry
from eventfold.entry.worker import subscriptions_of
from eventfold.testing import TokenIssuer
from tests.eventfold.core.router.targets import TrackingSqliteTarget, fill
from tests.eventfold.entry.router_probe import PROBE_DB, probe_service


def test_the_router_runs_with_the_app_and_metrics_are_served(
    tmp_path: Path, token_issuer: TokenIssuer
) -> None:
    settings = load_settings({"EVENTFOLD_HOME": str(tmp_path)})
    store = SqliteEventStore(settings.database_path)
    context = ServiceContext(store)
    telemetry = Telemetry()
    services = [probe_service(tmp_path)]
    app = create_app(
        services,
        context,
        authentication=token_issuer.authentication,
        runners=[router_runner(settings, services, context, telemetry)],
        metrics=telemetry.registry,
    )
    pause = threading.Event()
    with TestClient(app, headers=token_issuer.headers("ops", "operator")) as client:
        fill(store, {"probe-1": 3})
        for _ in range(1000):  # liveness bound only
            if len(TrackingSqliteTarget(tmp_path / PROBE_DB).rows()) == 3:
                break
            pause.wait(0.01)
        response = client.get("/metrics")
    store.close()
    assert response.status_code == 200
    text = response.text
    assert 'eventfold_router_applied_events_total{subscription="probe-rows"} 3.0' in text
    assert 'eventfold_router_parked_streams{subscription="probe-rows"} 0.0' in text
    assert 'eventfold_router_freshness_seconds_count{subscription="probe-rows"} 3.0' in text


def service_with(*subscriptions: object, name: str = "odd") -> Service:
    return Service(
        name,
        JsonCodec(EventTypes()),
        (name,),
        lambda _: APIRouter(),
        subscriptions=lambda _: list(subscriptions),
    )


def test_a_service_must_return_subscription_values(store: SqliteEventStore) -> None:
    context = ServiceContext(store)
    with pytest.raises(ConfigurationError, match="returned str from its subscriptions factory"):
        subscriptions_of([service_with("not a subscription")], context)


def test_subscription_names_must_be_unique_across_services(
    store: SqliteEventStore, tmp_path: Path
) -> None:
    context = ServiceContext(store)
    services = [probe_service(tmp_path), probe_service(tmp_path)]
    with pytest.raises(ConfigurationError, match="probe-rows used more than once"):
        subscriptions_of(services, context)

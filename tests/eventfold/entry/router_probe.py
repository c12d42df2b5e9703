"""A tiny service whose one subscription writes rows to ``<home>/probe.db``; also a script
that runs the worker on it (``python -m tests.eventfold.entry.router_probe HOME``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from fastapi import APIRouter

from eventfold import EventTypes, JsonCodec
from eventfold.core.router.ports import Subscription
from eventfold.entry.composition import route_until_signalled
from eventfold.entry.service import Service, ServiceContext
from eventfold.entry.settings import load_settings, open_store
from eventfold.entry.telemetry import Telemetry
from tests.eventfold.core.router.targets import RebuildableSqliteTarget

PROBE_DB = "probe.db"


def probe_service(home: Path, *, batch_size: int = 500) -> Service:
    def subscriptions(_: ServiceContext) -> list[Subscription]:
        target = RebuildableSqliteTarget(home / PROBE_DB, "probe-rows")
        return [Subscription("probe-rows", target, batch_size=batch_size)]

    return Service(
        name="probe",
        codec=JsonCodec(EventTypes()),
        categories=("probe",),
        routes=lambda _: APIRouter(),
        subscriptions=subscriptions,
    )


def main(home: str) -> None:
    settings = load_settings({"EVENTFOLD_HOME": home, "EVENTFOLD_DURABILITY": "normal"})
    service = probe_service(Path(home), batch_size=int(os.environ.get("PROBE_BATCH", "50")))
    with open_store(settings) as store:
        route_until_signalled(
            settings,
            [service],
            ServiceContext(store),
            Telemetry(),
            ready=lambda: print("ready", flush=True),
        )


if __name__ == "__main__":
    main(sys.argv[1])

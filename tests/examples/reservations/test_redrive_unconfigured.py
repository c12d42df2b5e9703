"""Nothing silent, nothing lost: a partner's parked backlog redriven from a shell without
EVENTFOLD_WEBHOOKS is neither sent nor recorded as done; the command says which setting is
missing and exits 1, and the streams stay parked for a redrive that has the setting.

Before: the redrive "delivered" the staff webhook into the void (logged "not sent", which
nothing printed, and marked done in the effects ledger)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from eventfold.core.router.router import Router
from eventfold.entry.cli.common import CliContext
from eventfold.entry.cli.main import app
from eventfold.entry.composition import router_parts, service_context
from eventfold.entry.settings import load_settings
from eventfold.entry.worker import subscriptions_of
from eventfold.web import migrate_query_model, query_engine
from reservations import app as reservations
from reservations.domain.reservation import RequestReservation
from reservations.domain.stock import SetStockLevel
from reservations.published_language import PROTOBUF_CODEC
from reservations.service import service
from tests.eventfold.adapters.webhooks.servers import WebhookReceiver
from tests.loopback import free_port

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)
STREAM = reservations.reservation_stream("r1")


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A reservation whose staff webhook parked (the partner was unreachable)."""
    down = f"http://127.0.0.1:{free_port()}/staff"
    settings = load_settings(
        {
            "EVENTFOLD_HOME": str(tmp_path),
            "EVENTFOLD_SERVICES": "reservations",
            "EVENTFOLD_WEBHOOKS": f"reservations-staff={down}",
        }
    )
    with service_context(settings) as context:
        migrate_query_model([service], context)
        handler = reservations.make_handler(context.store, PROTOBUF_CODEC)
        reservations.set_stock_level(handler, SetStockLevel("s1", "k1", 5, T0))
        reservations.request_reservation(handler, RequestReservation("r1", "c1", "s1", "k1", 1, T0))
        [staff] = [s for s in subscriptions_of([service], context) if s.name.endswith("staff")]
        parts = router_parts(settings, context.store)
        router = Router(
            staff,
            context.store,
            versions=parts.versions,
            parking=parts.parking,
            sleep=lambda _: None,
        )
        router.deliver(list(context.store.scan()))
        assert parts.parking.parked_streams(staff.name) == {STREAM}
        parts.close()
    return tmp_path


def eventfold(home: Path, *args: str, **environ: str):  # type: ignore[no-untyped-def]
    context = CliContext(
        environ={"EVENTFOLD_HOME": str(home), "EVENTFOLD_SERVICES": "reservations", **environ}
    )
    return CliRunner().invoke(app, list(args), obj=context, env={"COLUMNS": "200"})


def staff_effects(home: Path) -> list[tuple[str, str]]:
    settings = load_settings({"EVENTFOLD_HOME": str(home)})
    with service_context(settings) as context, query_engine(context).connect() as db:
        found = db.execute(
            text("SELECT effect_key, status FROM eventfold_effects WHERE reaction = :r"),
            {"r": "reservations_staff"},
        )
        return [(str(k), str(s)) for k, s in found]


@pytest.mark.parametrize(
    "command",
    [
        ["parked", "redrive", "reservations_staff", STREAM],
        ["parked", "redrive", "--all"],
        ["parked", "redrive", "--subscription", "reservations_staff"],
    ],
)
def test_a_redrive_without_the_webhook_setting_sends_nothing_and_marks_nothing_done(
    home: Path, command: list[str]
) -> None:
    result = eventfold(home, *command)

    assert result.exit_code == 1, result.output
    [error] = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "EVENTFOLD_WEBHOOKS" in error
    assert "reservations_staff" in error
    # the CLI logs as the servers do: the warning naming the missing setting is printed
    assert "EVENTFOLD_WEBHOOKS=reservations-staff=" in result.stderr
    assert not any(status == "done" for _, status in staff_effects(home))
    listed = eventfold(home, "parked", "list", "--json")
    assert STREAM in listed.stdout


def test_the_same_redrive_with_the_setting_delivers_once(
    home: Path, receiver: WebhookReceiver
) -> None:
    eventfold(home, "parked", "redrive", "--all")  # without the setting: nothing happens
    hooks = f"reservations-staff={receiver.base_url}/ok"
    result = eventfold(home, "parked", "redrive", "--all", EVENTFOLD_WEBHOOKS=hooks)
    assert result.exit_code == 0, result.output
    assert len(receiver.calls) == 1
    assert [status for _, status in staff_effects(home)] == ["done"]

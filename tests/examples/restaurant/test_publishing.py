"""The restaurant's fan-out: every menu change reaches the query model AND the
menu-publishing webhook (once each, through the effects ledger); not configured, the
webhook's subscription does not run and a warning names the setting."""

from __future__ import annotations

from sqlalchemy import text
from structlog.testing import capture_logs

from eventfold import SqliteEventStore
from eventfold.core.router.router import Router
from eventfold.router import MemoryRouterState
from eventfold.web import ServiceContext, migrate_query_model
from restaurant import app
from restaurant.domain import AddItems, CreateRestaurant, NewItem, RemoveItems
from restaurant.publishing import MENU_WEBHOOK
from restaurant.service import service
from tests.eventfold.adapters.webhooks.servers import WebhookReceiver, receiver

__all__ = ["receiver"]


def test_not_configured_only_the_query_model_runs_and_the_setting_is_named(
    store: SqliteEventStore,
) -> None:
    context = ServiceContext(store)
    migrate_query_model([service], context)
    with capture_logs() as logs:
        names = [s.name for s in service.subscriptions(context)]
    assert names == ["restaurant_view"]
    (warning,) = [line for line in logs if line.get("subscription")]
    assert warning["fix"].startswith(f"set EVENTFOLD_WEBHOOKS={MENU_WEBHOOK}=")


def test_every_menu_change_fans_out_to_the_query_model_and_the_webhook_once(
    store: SqliteEventStore, receiver: WebhookReceiver
) -> None:
    context = ServiceContext(store, webhook_urls={MENU_WEBHOOK: receiver.base_url + "/ok"})
    migrate_query_model([service], context)
    handler = app.make_handler(store)
    app.create_restaurant(handler, CreateRestaurant("sushi", "Sushi Dai"))
    batch = AddItems((NewItem("i1", "Tuna", 300), NewItem("i2", "Eel", 500)))
    app.add_items(handler, "sushi", batch, expected_version=1)
    app.remove_items(handler, "sushi", RemoveItems(("i1",)), expected_version=3)

    state = MemoryRouterState()
    subscriptions = service.subscriptions(context)
    assert [s.name for s in subscriptions] == ["restaurant_view", "restaurant_menu_publishing"]
    for _ in range(2):  # the second time round is a redelivery: nothing new happens
        for subscription in subscriptions:
            router = Router(subscription, store, versions=state, parking=state)
            router.deliver(store.read_all(0, 100))

    published = [(c.envelope()["version"], c.headers["Idempotency-Key"]) for c in receiver.calls]
    assert published == [
        (2, "restaurant_menu_publishing/restaurant-sushi:2/webhook"),
        (3, "restaurant_menu_publishing/restaurant-sushi:3/webhook"),
        (4, "restaurant_menu_publishing/restaurant-sushi:4/webhook"),
    ]
    assert [c.envelope()["type"] for c in receiver.calls] == [
        "ItemAdded",
        "ItemAdded",
        "ItemRemoved",
    ]
    with context.engine().connect() as connection:
        rows = connection.execute(text("SELECT item_id FROM restaurant_menu_items")).all()
    assert [r[0] for r in rows] == ["i2"]

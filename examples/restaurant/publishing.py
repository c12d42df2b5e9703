"""The restaurant service's second consumer (seed 000's fan-out): every menu change is
published to the menu-publishing service (a delivery app, the restaurant's web site) as a
webhook, beside the query model.

The subscription ``restaurant_menu_publishing`` POSTs each ItemAdded / ItemRemoved (the
JSON envelope, ``Idempotency-Key`` header) once per event: the effects ledger remembers what
was sent. The URL is a setting, ``EVENTFOLD_WEBHOOKS=restaurant-menu=https://…``. Not set:
the subscription is not subscribed at all and a warning names the setting — nothing is sent
and nothing is recorded as done, so once it is set the subscription starts from the first
menu change and no change is lost (the same rule as the reservation service's partners).
"""

from __future__ import annotations

import structlog

from eventfold import EventCodec
from eventfold.router import EventFilter, Subscription
from eventfold.sql import SqlEffectsLedger
from eventfold.targets import WebhookSender, webhook_target
from eventfold.web import ServiceContext, query_engine, webhook_url
from restaurant.domain import ItemAdded, ItemRemoved

NAME = "restaurant_menu_publishing"
MENU_WEBHOOK = "restaurant-menu"
"""The menu-publishing service's webhook, by name (``EVENTFOLD_WEBHOOKS=restaurant-menu=URL``)."""

log = structlog.stdlib.get_logger(__name__)


def menu_publishing(context: ServiceContext, codec: EventCodec) -> Subscription | None:
    """The menu-publishing subscription, or None (and a warning) when its URL is not set."""
    url = webhook_url(context, MENU_WEBHOOK)
    if url is None:
        log.warning(
            "menu-publishing webhook not configured: its subscription does not run",
            subscription=NAME,
            fix=f"set EVENTFOLD_WEBHOOKS={MENU_WEBHOOK}=https://…",
        )
        return None
    # The ledger's table is eventfold's own migration, applied by the entry points at start.
    ledger = SqlEffectsLedger(query_engine(context))
    sender = WebhookSender(url, when_unset=f"set EVENTFOLD_WEBHOOKS={MENU_WEBHOOK}=…")
    target = webhook_target(NAME, codec, sender, ledger, only={ItemAdded, ItemRemoved})
    wanted = EventFilter(categories=frozenset({"restaurant"}))
    return Subscription(NAME, target, wanted, batch_size=100)

"""The reservation service's reactions (seed 004): what happens outside the service when a
reservation is accepted or its stock is secured.

On ReservationAccepted:
- e-mail the customer that the request was received (``reservations_mail``);
- notify the store staff system (FAANS) to secure the stock (``reservations_staff``);
- sync the reserved SKU to the external inventory service (``reservations_inventory``).
On StockSecured:
- e-mail the customer that the units are ready for their visit (``reservations_mail``).

Each destination is its own subscription, so a slow or failing partner holds back only its
own deliveries, never the e-mails or the query model. Effects go through the effects ledger
(exactly once per ledger ``done`` row; see :mod:`eventfold.targets`).

Customer e-mail addresses: the domain knows customer ids only, so mail goes to the
deterministic test address ``<customer_id>@customers.example`` (:func:`customer_address`);
a real deployment would look the address up in the customer service instead.

StockSecured carries only the reservation id; the mail reaction reads the customer from the
reservation's stream in the event store (:func:`reservations.app.reservation_of`). That is
deterministic — a reservation's customer never changes — and, unlike the query model,
always has the reservation once its StockSecured exists.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import structlog

from eventfold import CommandHandler, EventCodec, RecordedEvent
from eventfold.router import EventFilter, Subscription
from eventfold.sql import SqlEffectsLedger
from eventfold.targets import (
    EffectPerformer,
    Email,
    Reaction,
    ReactionHandler,
    WebhookCall,
    WebhookSender,
)
from eventfold.web import ServiceContext, mail_sender, query_engine, webhook_url
from reservations.app import make_handler, reservation_of
from reservations.domain.reservation import ReservationAccepted, StockSecured

CUSTOMER_MAIL_DOMAIN = "customers.example"
STAFF_WEBHOOK = "reservations-staff"
"""The store staff system's webhook, by name (``EVENTFOLD_WEBHOOKS=reservations-staff=URL``)."""
INVENTORY_WEBHOOK = "reservations-inventory"
"""The inventory service's webhook, by name (``EVENTFOLD_WEBHOOKS=reservations-inventory=URL``)."""
JSON = "application/json"

Notify = Callable[[ReservationAccepted, RecordedEvent], list[WebhookCall]]


def customer_address(customer_id: str) -> str:
    """The customer's e-mail address (deterministic test address: see the module doc)."""
    return f"{customer_id}@{CUSTOMER_MAIL_DOMAIN}"


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# Built once: json.dumps with options builds a new encoder on every call.
_COMPACT_SORTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _json(payload: dict[str, object]) -> bytes:
    return _COMPACT_SORTED.encode(payload).encode()


# -- handlers: event -> effects ------------------------------------------------------------------


def mail_accepted(event: ReservationAccepted, recorded: RecordedEvent) -> list[Email]:
    body = (
        f"We received your reservation {event.reservation_id}: {event.quantity} x {event.sku} "
        f"at store {event.store_id}.\n\nThe store staff will now put the items aside; we will "
        f"write again when they are ready for your visit. The reservation is held until "
        f"{_when(event.hold_until)}.\n"
    )
    to = (customer_address(event.customer_id),)
    return [Email("request_received", to, f"Reservation {event.reservation_id} received", body)]


def mail_secured(handler: CommandHandler) -> Callable[[StockSecured, RecordedEvent], list[Email]]:
    """The "ready for your visit" mail; the customer comes from the reservation's stream."""

    def ready(event: StockSecured, recorded: RecordedEvent) -> list[Email]:
        customer_id = reservation_of(handler, event.reservation_id).customer_id
        body = (
            f"The items of your reservation {event.reservation_id} are ready for your visit "
            f"(since {_when(event.secured_at)}). Show this e-mail at the store counter.\n"
        )
        to = (customer_address(customer_id),)
        return [Email("ready_for_visit", to, f"Reservation {event.reservation_id} is ready", body)]

    return ready


log = structlog.get_logger("reservations.reactions")


def staff_notice(url: str) -> Notify:
    """Ask the store staff system (FAANS) to secure the reservation's stock."""

    def notify(event: ReservationAccepted, recorded: RecordedEvent) -> list[WebhookCall]:
        body = _json(
            {
                "type": "secure_stock_requested",
                "reservation_id": event.reservation_id,
                "store_id": event.store_id,
                "sku": event.sku,
                "quantity": event.quantity,
                "hold_until": event.hold_until.isoformat(),
                "event": recorded.key,
            }
        )
        return [WebhookCall("staff_notice", body, JSON, url=url)]

    return notify


def inventory_sync(url: str) -> Notify:
    """Tell the external inventory service how many units of the SKU were reserved."""

    def sync(event: ReservationAccepted, recorded: RecordedEvent) -> list[WebhookCall]:
        body = _json(
            {
                "type": "stock_reserved",
                "store_id": event.store_id,
                "sku": event.sku,
                "reserved": event.quantity,
                "reservation_id": event.reservation_id,
                "occurred_at": event.accepted_at.isoformat(),
                "event": recorded.key,
            }
        )
        return [WebhookCall("inventory_sync", body, JSON, url=url)]

    return sync


# -- subscriptions -------------------------------------------------------------------------------


def reaction_subscriptions(context: ServiceContext, codec: EventCodec) -> Sequence[Subscription]:
    """The reactions, each its own subscription (reservation streams only). A partner
    webhook left out of EVENTFOLD_WEBHOOKS is not subscribed at all (a warning says which
    setting is missing): nothing is sent and nothing is recorded as done, and once it is set
    the subscription starts from the first reservation, so no call is lost."""
    # The ledger's table is eventfold's own migration, applied by the entry points at start
    # (migrate_query_model) before any subscription is built.
    ledger = SqlEffectsLedger(query_engine(context))
    handler = make_handler(context.store, codec)
    # Each call carries its URL; a call without one fails for good (never marked done).
    sender = WebhookSender(None, when_unset="set EVENTFOLD_WEBHOOKS")
    performers: dict[type, EffectPerformer] = {Email: mail_sender(context), WebhookCall: sender}
    wanted = EventFilter(categories=frozenset({"reservation"}))

    def subscribe(name: str, handlers: Mapping[type, ReactionHandler]) -> Subscription:
        reaction = Reaction(name, codec, handlers, performers, ledger)
        return Subscription(name, reaction, wanted, batch_size=100)

    subscriptions = [
        subscribe(
            "reservations_mail",
            {ReservationAccepted: mail_accepted, StockSecured: mail_secured(handler)},
        )
    ]
    partners = [
        ("reservations_staff", STAFF_WEBHOOK, staff_notice),
        ("reservations_inventory", INVENTORY_WEBHOOK, inventory_sync),
    ]
    for name, webhook, notify in partners:
        url = webhook_url(context, webhook)
        if url is None:
            log.warning(
                "partner webhook not configured: its subscription does not run",
                subscription=name,
                fix=f"set EVENTFOLD_WEBHOOKS={webhook}=https://…",
            )
            continue
        subscriptions.append(subscribe(name, {ReservationAccepted: notify(url)}))
    return subscriptions

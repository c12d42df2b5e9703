"""Who may do what in the reservation service: the whole policy, in one place.

Roles (from the caller's token): ``customer`` (ZOZOTOWN; the subject is the customer id),
``staff`` (FAANS; the token's stores are the stores they work for), ``support``
(backoffice), ``inventory`` (the store inventory feed), ``operator`` (runs the service),
``service`` (the service's own jobs; never in a client's token).

==============================================  =============================================
route                                           allowed
==============================================  =============================================
PUT  /stores/{store}/stock/{sku}                inventory (any store); staff of that store
POST /reservations                              customer, for themself (customer_id = subject)
POST /reservations/{id}/secure|reject|pickup    staff of the reservation's store
POST /reservations/{id}/cancel                  the owning customer; staff of the store; support
POST /reservations/{id}/expire                  support; operator; the service's expiry job
GET  /reservations/{id}                         the owning customer; staff of the store; support
GET  /customers/{customer}/reservations         that customer; support
GET  /stores/{store}/reservations               staff of that store; support
GET  /backoffice/reservations                   support
GET  /stores/{store}/stock/{sku}                anyone (public: customers check stock before
                                                reserving, like a shop's shelf)
==============================================  =============================================

A reservation the caller may not see is answered exactly like one that does not exist (404),
for reads and for commands alike, so ids cannot be probed. A caller who may see it but not do
the action gets 403.
"""

from __future__ import annotations

from collections.abc import Callable

from eventfold import Actor, Forbidden, StreamNotFound
from reservations.domain.reservation import Canceler, Reservation, reservation

CUSTOMER = "customer"
STAFF = "staff"
SUPPORT = "support"
INVENTORY = "inventory"
OPERATOR = "operator"
SERVICE = "service"


def works_at(actor: Actor, store_id: str) -> bool:
    return actor.has(STAFF) and store_id in actor.stores


def owns(actor: Actor, customer_id: str) -> bool:
    return actor.has(CUSTOMER) and actor.subject == customer_id


# -- commands --------------------------------------------------------------------------------


Rule = Callable[[Actor, Reservation], None]
"""Raises Forbidden unless the actor may act on that reservation."""


def may_set_stock(actor: Actor, store_id: str) -> None:
    if not (actor.has(INVENTORY) or works_at(actor, store_id)):
        raise Forbidden(f"setting stock needs the inventory role or staff of store {store_id}")


def reserving_customer(actor: Actor, customer_id: str | None) -> str:
    """The customer a new reservation is for: the caller, who must be a customer; a
    ``customer_id`` in the body must name them."""
    if not actor.has(CUSTOMER):
        raise Forbidden("only a customer can reserve, for themself")
    if customer_id is not None and customer_id != actor.subject:
        raise Forbidden("a customer can reserve only for themself (customer_id is not you)")
    return actor.subject


def staff_of_store(actor: Actor, held: Reservation) -> None:
    """secure, reject, pickup."""
    if not works_at(actor, held.store_id):
        raise Forbidden(f"this needs staff of store {held.store_id}")


def canceler(actor: Actor, held: Reservation) -> Canceler:
    """Who cancels, as the caller's role says (never as a request body says)."""
    if owns(actor, held.customer_id):
        return Canceler.CUSTOMER
    if works_at(actor, held.store_id):
        return Canceler.STAFF
    if actor.has(SUPPORT):
        return Canceler.SUPPORT
    raise Forbidden("a reservation is canceled by its customer, staff of its store or support")


def may_cancel(actor: Actor, held: Reservation) -> None:
    canceler(actor, held)


def may_expire(actor: Actor, held: Reservation) -> None:
    if not (actor.has(SUPPORT) or actor.has(OPERATOR) or actor.has(SERVICE)):
        raise Forbidden("expiring a reservation needs the support or operator role")


def enforce(rule: Rule, actor: Actor, held: Reservation) -> None:
    """Apply ``rule``; a caller it refuses who may not even see the reservation gets the
    answer an unknown id gets (404), so ids cannot be probed."""
    try:
        rule(actor, held)
    except Forbidden:
        visible(actor, held.reservation_id, held.customer_id, held.store_id)
        raise


# -- reads -----------------------------------------------------------------------------------


def may_see(actor: Actor, customer_id: str, store_id: str) -> bool:
    """The reservation of ``customer_id`` at ``store_id`` is visible to ``actor``."""
    return owns(actor, customer_id) or works_at(actor, store_id) or actor.has(SUPPORT)


def visible(actor: Actor, reservation_id: str, customer_id: str, store_id: str) -> None:
    """404, as for an unknown reservation, unless ``actor`` may see it."""
    if not may_see(actor, customer_id, store_id):
        raise StreamNotFound(reservation.stream_id(reservation_id))


def may_list_customer(actor: Actor, customer_id: str) -> None:
    if not (owns(actor, customer_id) or actor.has(SUPPORT)):
        raise Forbidden("a customer's reservations are for that customer and support")


def may_list_store(actor: Actor, store_id: str) -> None:
    if not (works_at(actor, store_id) or actor.has(SUPPORT)):
        raise Forbidden(f"store {store_id}'s queue is for its staff and support")


def may_search(actor: Actor) -> None:
    if not actor.has(SUPPORT):
        raise Forbidden("the backoffice search is for support")

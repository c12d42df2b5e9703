"""The reservation service's domain events: its published language.

Two aggregates write events, each defined beside its decider: a reservation (stream
``reservation-<id>``, :mod:`reservations.domain.reservation`) records what happened to one
customer's request; the stock of one SKU at one store (stream ``stock-<store>/<sku>``,
:mod:`reservations.domain.stock`) records how many units are on hand and which
reservations hold them. Payloads are deliberately simple (str, int, datetime) so the JSON
codec and a protobuf codec can both carry them.

The registry below is read off the two event unions (``ReservationEvent``, ``StockEvent``):
an event added to its union is registered, nothing else lists it.
"""

from __future__ import annotations

from typing import get_args

from eventfold import EventTypes
from reservations.domain.reservation import ReservationEvent
from reservations.domain.stock import StockEvent


def event_types() -> EventTypes:
    """A registry naming every event of the service (the name is the class name)."""
    types = EventTypes()
    for cls in (*get_args(ReservationEvent), *get_args(StockEvent)):
        types.register(cls)
    return types


EVENT_TYPES = event_types()

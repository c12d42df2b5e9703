"""The reservation service's query model: plain SQL tables shaped for its three audiences
(seed 004) — customers on ZOZOTOWN, store staff on FAANS, customer support in the
backoffice — and the handlers that keep them up to date from the events.

``reservations``: one row per reservation, the stream version it reflects, indexed for
"my reservations" (customer), "stock to secure, oldest first" (store) and the support
search (status / time range). ``stock_levels``: on hand and held per (store, SKU), the
stock stream's version; available = on hand - held. Both live in ONE projection
(``reservations_view``): each batch commits rows and per-stream versions together.

Schema: the tables below are created and changed by the service's Alembic revisions
(``migrations/versions/``), which the entry points apply at startup (``eventfold migrate``
applies them on its own); a test checks that the revisions make exactly these definitions.
``eventfold rebuild reservations_view`` refills them through shadow tables and a swap.

Times are stored as naive UTC (SQLite and MySQL ``DATETIME`` carry no zone; MySQL keeps
microseconds, ``fsp=6``); the query API writes them as RFC 3339 UTC (``...Z``) straight
from the database (:func:`eventfold.sql.json_row`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
)
from sqlalchemy.dialects import mysql

from eventfold import EventCodec, RecordedEvent
from eventfold.router import EventFilter, Subscription
from eventfold.sql import ProjectionHandler, Rows, SqlProjection, versions_table
from eventfold.web import ServiceContext, query_engine
from reservations.domain.reservation import (
    HoldExtended,
    ReservationAccepted,
    ReservationCanceled,
    ReservationExpired,
    ReservationPickedUp,
    ReservationRejected,
    StockSecured,
)
from reservations.domain.stock import StockHandedOver, StockLevelSet, StockReleased, StockReserved

NAME = "reservations_view"
"""The projection's (and its subscription's) name: keys its versions and checkpoint."""

Timestamp = DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")

metadata = MetaData()

reservations = Table(
    "reservations",
    metadata,
    Column("reservation_id", String(64), primary_key=True),
    Column("customer_id", String(64), nullable=False),
    Column("store_id", String(64), nullable=False),
    Column("sku", String(64), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("accepted_at", Timestamp, nullable=False),
    Column("hold_until", Timestamp, nullable=False),
    Column("secured_at", Timestamp, nullable=True),
    Column("closed_at", Timestamp, nullable=True),
    Column("closed_by", String(16), nullable=True),
    Column("reason", String(600), nullable=True),
    Column("extended_at", Timestamp, nullable=True),
    Column("version", BigInteger, nullable=False),
    Index("ix_reservations_customer", "customer_id", "accepted_at", "reservation_id"),
    Index("ix_reservations_store", "store_id", "status", "accepted_at", "reservation_id"),
    Index("ix_reservations_status", "status", "accepted_at", "reservation_id"),
    Index("ix_reservations_accepted", "accepted_at", "reservation_id"),
    Index("ix_reservations_due", "status", "hold_until", "reservation_id"),  # expiry sweep
)

stock_levels = Table(
    "stock_levels",
    metadata,
    Column("store_id", String(64), primary_key=True),
    Column("sku", String(64), primary_key=True),
    Column("on_hand", Integer, nullable=False),
    Column("held", Integer, nullable=False),
    Column("updated_at", Timestamp, nullable=False),
    Column("version", BigInteger, nullable=False),
)

versions = versions_table(NAME, metadata)


class Reservation(BaseModel):
    """A row of ``reservations`` as the query API answers it (times with their zone):
    beside its table, so a column is added in one place."""

    reservation_id: str
    customer_id: str
    store_id: str
    sku: str
    quantity: int
    status: str
    accepted_at: datetime
    hold_until: datetime
    secured_at: datetime | None
    closed_at: datetime | None
    closed_by: str | None
    reason: str | None
    extended_at: datetime | None
    version: int


def naive(moment: datetime) -> datetime:
    """UTC without a zone, as the query model stores it."""
    if moment.tzinfo is UTC:  # what the codecs decode: skip the conversion
        return moment.replace(tzinfo=None)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


# -- reservations ------------------------------------------------------------------------------


def on_accepted(rows: Rows, event: ReservationAccepted, recorded: RecordedEvent) -> None:
    rows.upsert(
        "reservations",
        {
            "reservation_id": event.reservation_id,
            "customer_id": event.customer_id,
            "store_id": event.store_id,
            "sku": event.sku,
            "quantity": event.quantity,
            "status": "accepted",
            "accepted_at": naive(event.accepted_at),
            "hold_until": naive(event.hold_until),
            "secured_at": None,
            "closed_at": None,
            "closed_by": None,
            "reason": None,
            "extended_at": None,
            "version": recorded.version,
        },
    )


def _moved(rows: Rows, reservation_id: str, recorded: RecordedEvent, **values: object) -> None:
    rows.update(
        "reservations",
        {"reservation_id": reservation_id},
        {**values, "version": recorded.version},
    )


def on_secured(rows: Rows, event: StockSecured, recorded: RecordedEvent) -> None:
    _moved(
        rows, event.reservation_id, recorded, status="secured", secured_at=naive(event.secured_at)
    )


def on_rejected(rows: Rows, event: ReservationRejected, recorded: RecordedEvent) -> None:
    _moved(
        rows,
        event.reservation_id,
        recorded,
        status="rejected",
        closed_at=naive(event.rejected_at),
        closed_by="staff",
        reason=event.reason,
    )


def on_canceled(rows: Rows, event: ReservationCanceled, recorded: RecordedEvent) -> None:
    _moved(
        rows,
        event.reservation_id,
        recorded,
        status="canceled",
        closed_at=naive(event.canceled_at),
        closed_by=event.canceled_by,
        reason=event.reason,
    )


def on_picked_up(rows: Rows, event: ReservationPickedUp, recorded: RecordedEvent) -> None:
    _moved(
        rows,
        event.reservation_id,
        recorded,
        status="picked_up",
        closed_at=naive(event.picked_up_at),
    )


def on_expired(rows: Rows, event: ReservationExpired, recorded: RecordedEvent) -> None:
    _moved(
        rows, event.reservation_id, recorded, status="expired", closed_at=naive(event.expired_at)
    )


def on_hold_extended(rows: Rows, event: HoldExtended, recorded: RecordedEvent) -> None:
    _moved(
        rows,
        event.reservation_id,
        recorded,
        hold_until=naive(event.hold_until),
        extended_at=naive(event.extended_at),
    )


# -- stock -------------------------------------------------------------------------------------


def _stock(rows: Rows, store_id: str, sku: str) -> dict[str, Any]:
    found = rows.get("stock_levels", {"store_id": store_id, "sku": sku})
    if found is not None:
        return found
    epoch = datetime(1970, 1, 1)
    return {"store_id": store_id, "sku": sku, "on_hand": 0, "held": 0, "updated_at": epoch}


def _change_stock(
    rows: Rows, store_id: str, sku: str, recorded: RecordedEvent, *, on_hand: int = 0, held: int = 0
) -> None:
    row = _stock(rows, store_id, sku)
    row["on_hand"] += on_hand
    row["held"] += held
    row["updated_at"] = naive(recorded.recorded_at)
    row["version"] = recorded.version
    rows.upsert("stock_levels", row)


def on_level_set(rows: Rows, event: StockLevelSet, recorded: RecordedEvent) -> None:
    row = _stock(rows, event.store_id, event.sku)
    row.update(on_hand=event.on_hand, updated_at=naive(event.set_at), version=recorded.version)
    rows.upsert("stock_levels", row)


def on_reserved(rows: Rows, event: StockReserved, recorded: RecordedEvent) -> None:
    _change_stock(rows, event.store_id, event.sku, recorded, held=event.quantity)


def on_released(rows: Rows, event: StockReleased, recorded: RecordedEvent) -> None:
    _change_stock(rows, event.store_id, event.sku, recorded, held=-event.quantity)


def on_handed_over(rows: Rows, event: StockHandedOver, recorded: RecordedEvent) -> None:
    quantity = event.quantity
    _change_stock(rows, event.store_id, event.sku, recorded, on_hand=-quantity, held=-quantity)


HANDLERS: dict[type, ProjectionHandler] = {
    ReservationAccepted: on_accepted,
    StockSecured: on_secured,
    ReservationRejected: on_rejected,
    ReservationCanceled: on_canceled,
    ReservationPickedUp: on_picked_up,
    ReservationExpired: on_expired,
    HoldExtended: on_hold_extended,
    StockLevelSet: on_level_set,
    StockReserved: on_reserved,
    StockReleased: on_released,
    StockHandedOver: on_handed_over,
}


def projection(engine: Engine, codec: EventCodec) -> SqlProjection:
    """The reservation service's query model on ``engine``."""
    return SqlProjection(NAME, engine, codec, [reservations, stock_levels], HANDLERS)


def subscription(view: SqlProjection) -> Subscription:
    """Every event of the reservation and stock streams, in big batches (the projection
    commits one transaction per batch)."""
    wanted = EventFilter(categories=frozenset({"reservation", "stock"}))
    return Subscription(NAME, view, wanted, batch_size=500)


def query_model(context: ServiceContext, codec: EventCodec) -> SqlProjection:
    """The projection on the context's query-model engine (``codec``: the one the service
    stores its events with); its tables are the migrations' (see the module doc)."""
    return projection(query_engine(context), codec)

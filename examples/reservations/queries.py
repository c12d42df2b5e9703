"""The reservation service's query API: reads ONLY the query model (:mod:`reservations.projection`).

Three audiences (seed 004) and the stock page:

- customers (ZOZOTOWN): ``GET /customers/{customer_id}/reservations`` (newest first),
  ``GET /reservations/{reservation_id}``;
- store staff (FAANS): ``GET /stores/{store_id}/reservations?status=`` (default
  ``accepted``: the stock to secure, oldest first);
- customer support (backoffice): ``GET /backoffice/reservations?customer_id=&store_id=
  &status=&from=&to=`` (newest first);
- ``GET /stores/{store_id}/stock/{sku}``: on hand, held, available.

Lists page with ``limit`` (1-200, default 50) and an opaque ``cursor`` (keyset: the
``next_cursor`` of the previous page). Every row carries the stream version it reflects.

Read-your-writes: ``?min_version=v`` waits (bounded, 2 s by default, on the event loop:
no thread held) until the query model shows version ``v`` of the stream the request is
about — the reservation's, or the stock's — and answers 503 problem+json with
``Retry-After`` if it does not get there in time; 404 at once when the event store never
reached ``v`` (an unknown stream, a version beyond it). The routes are ``async``: their
SQLite reads run inline (``query_runner``), a network database's in a thread. A list
names that stream with ``wait_for=<reservation id>``. Query parameters are all checked
together: a bad request is one 422 problem+json listing every issue.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, and_, or_, select

from eventfold import EventCodec, Issue, Validation
from eventfold.sql import SqlProjection
from eventfold.web import (
    PUBLIC,
    Caller,
    QueryRunner,
    ReadYourWrites,
    ServiceContext,
    query_runner,
    read_your_writes,
)
from reservations import policy
from reservations.app import reservation_stream, stock_stream
from reservations.domain import Status
from reservations.http import ID_MAX, ID_PATTERN, PathId
from reservations.projection import aware, naive, query_model, reservations, stock_levels

LIMIT_DEFAULT = 50
LIMIT_MAX = 200
VERSION_MAX = 2**62
STATUSES = tuple(s.value for s in Status if s is not Status.NEW)

Order = Literal["asc", "desc"]


class Reservation(BaseModel):
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
    version: int


class ReservationPage(BaseModel):
    items: list[Reservation]
    next_cursor: str | None
    """Pass as ``cursor`` for the next page; null on the last page."""


class StockLevel(BaseModel):
    store_id: str
    sku: str
    on_hand: int
    held: int
    available: int
    updated_at: datetime
    version: int


# -- parameters ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cursor:
    accepted_at: datetime
    reservation_id: str

    def encode(self) -> str:
        raw = json.dumps([naive(self.accepted_at).isoformat(), self.reservation_id])
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            moment, reservation_id = json.loads(raw)
            return cls(datetime.fromisoformat(moment), str(reservation_id))
        except (ValueError, TypeError, binascii.Error):
            raise ValueError("is not a cursor this API returned (use next_cursor)") from None


@dataclass(frozen=True, slots=True)
class ListParams:
    limit: int
    cursor: Cursor | None
    wait_for: str | None
    min_version: int | None


def _whole(check: Validation, path: str, raw: str | None, low: int, high: int) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        check.add(Issue(path, f"must be a whole number, got {raw!r}", "int_parsing"))
        return None
    check.check(low <= value <= high, path, f"must be between {low} and {high}", "out_of_range")
    return value


def _min_version(check: Validation, raw: str | None) -> int | None:
    return _whole(check, "min_version", raw, 1, VERSION_MAX)


def _moment(check: Validation, path: str, raw: str | None) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        check.add(Issue(path, f"must be an ISO 8601 time, e.g. 2026-05-10T09:00:00Z, got {raw!r}"))
        return None
    if moment.tzinfo is None:
        check.add(Issue(path, "must include a time zone, e.g. 2026-05-10T09:00:00+09:00"))
        return None
    return moment


def _status(check: Validation, raw: str | None) -> str | None:
    if raw is not None and raw not in STATUSES:
        check.add(Issue("status", f"must be one of {', '.join(STATUSES)}; got {raw!r}", "enum"))
        return None
    return raw


def _id(check: Validation, path: str, raw: str | None) -> str | None:
    if raw is not None and not (len(raw) <= ID_MAX and re.fullmatch(ID_PATTERN, raw)):
        check.add(Issue(path, f"must be an id (letters, digits, _ . -; at most {ID_MAX})"))
        return None
    return raw


def _list_params(
    check: Validation,
    limit: str | None,
    cursor: str | None,
    wait_for: str | None,
    min_version: str | None,
) -> ListParams:
    size = _whole(check, "limit", limit, 1, LIMIT_MAX)
    at = check.field("cursor", Cursor.decode, cursor) if cursor is not None else None
    waited = _id(check, "wait_for", wait_for)
    version = _min_version(check, min_version)
    if min_version is not None and wait_for is None:
        check.add(Issue("wait_for", "name the reservation min_version is about", "missing"))
    if wait_for is not None and min_version is None:
        check.add(Issue("min_version", "give the version of wait_for to wait for", "missing"))
    return ListParams(size or LIMIT_DEFAULT, at, waited, version)


# -- reading -------------------------------------------------------------------------------------


class ReservationQueries:
    """Reads the query model; waits for a stream version first when asked to."""

    def __init__(
        self, view: SqlProjection, waiting: ReadYourWrites, run: QueryRunner | None = None
    ) -> None:
        self.engine = view.engine
        self.view = view
        self.waiting = waiting
        self.run = run or query_runner(view.engine)

    async def wait(self, stream_id: str, min_version: int | None) -> None:
        """Return once the query model shows ``min_version`` of the stream, without holding
        a thread (404 at once when the event store never reached that version; 503
        NotYetVisible after the bound)."""
        await self.waiting.wait(stream_id, min_version)

    def reservation(self, reservation_id: str) -> Reservation | None:
        query = select(reservations).where(reservations.c.reservation_id == reservation_id)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _reservation(row)

    def stock(self, store_id: str, sku: str) -> StockLevel | None:
        t = stock_levels
        with self.engine.connect() as conn:
            row = conn.execute(select(t).where(t.c.store_id == store_id, t.c.sku == sku)).first()
        if row is None:
            return None
        return StockLevel(
            store_id=row.store_id,
            sku=row.sku,
            on_hand=row.on_hand,
            held=row.held,
            available=row.on_hand - row.held,
            updated_at=aware(row.updated_at),
            version=row.version,
        )

    def page(
        self, where: Sequence[ColumnElement[bool]], order: Order, params: ListParams
    ) -> ReservationPage:
        """One page of reservations matching ``where``, by (accepted_at, id) in ``order``."""
        t = reservations
        conditions = list(where)
        if params.cursor is not None:
            at, rid = naive(params.cursor.accepted_at), params.cursor.reservation_id
            if order == "asc":
                after = or_(
                    t.c.accepted_at > at, and_(t.c.accepted_at == at, t.c.reservation_id > rid)
                )
            else:
                after = or_(
                    t.c.accepted_at < at, and_(t.c.accepted_at == at, t.c.reservation_id < rid)
                )
            conditions.append(after)
        keys = (t.c.accepted_at, t.c.reservation_id)
        ordering = [k.asc() for k in keys] if order == "asc" else [k.desc() for k in keys]
        query = select(t).where(*conditions).order_by(*ordering).limit(params.limit + 1)
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        items = [_reservation(r) for r in rows[: params.limit]]
        more = len(rows) > params.limit
        last = items[-1] if items and more else None
        cursor = Cursor(last.accepted_at, last.reservation_id).encode() if last else None
        return ReservationPage(items=items, next_cursor=cursor)


def _reservation(row: Any) -> Reservation:
    values = dict(row)
    for name in ("accepted_at", "hold_until", "secured_at", "closed_at"):
        if values[name] is not None:
            values[name] = aware(values[name])
    return Reservation(**values)


def _not_found(what: str) -> HTTPException:
    return HTTPException(404, detail=f"{what} is not known (to the query model)")


# -- routes --------------------------------------------------------------------------------------

Limit = Annotated[
    str | None, Query(description=f"page size, 1-{LIMIT_MAX} (default {LIMIT_DEFAULT})")
]
PageCursor = Annotated[str | None, Query(description="next_cursor of the previous page")]
WaitFor = Annotated[
    str | None, Query(description="the reservation min_version is about (read-your-writes)")
]
MinVersion = Annotated[
    str | None,
    Query(description="wait (bounded) until the query model shows this version of the stream"),
]
StatusFilter = Annotated[str | None, Query(description=f"one of {', '.join(STATUSES)}")]
IdFilter = Annotated[str | None, Query(description="an exact id")]


def router(queries: ReservationQueries) -> APIRouter:
    """The query routes on ``queries``."""
    routes = APIRouter()
    t = reservations
    query = queries.run

    async def listing(
        check: Validation, where: list[ColumnElement[bool]], order: Order, params: ListParams
    ) -> ReservationPage:
        check.raise_if_invalid()
        if params.wait_for is not None:
            await queries.wait(reservation_stream(params.wait_for), params.min_version)
        return await query(queries.page, where, order, params)

    @routes.get("/reservations/{reservation_id}", response_model=Reservation)
    async def get_reservation(
        reservation_id: PathId, caller: Caller, min_version: MinVersion = None
    ) -> Reservation:
        """One reservation: to its customer, staff of its store and support (404 to anyone
        else, as for an id that does not exist)."""
        check = Validation()
        version = _min_version(check, min_version)
        check.raise_if_invalid()
        await queries.wait(reservation_stream(reservation_id), version)
        found = await query(queries.reservation, reservation_id)
        if found is None or not policy.may_see(caller, found.customer_id, found.store_id):
            raise _not_found(f"reservation {reservation_id}")
        return found

    @routes.get("/customers/{customer_id}/reservations", response_model=ReservationPage)
    async def customer_reservations(
        customer_id: PathId,
        caller: Caller,
        limit: Limit = None,
        cursor: PageCursor = None,
        wait_for: WaitFor = None,
        min_version: MinVersion = None,
    ) -> ReservationPage:
        """A customer's reservations, newest first (ZOZOTOWN): to that customer and support."""
        policy.may_list_customer(caller, customer_id)
        check = Validation()
        params = _list_params(check, limit, cursor, wait_for, min_version)
        return await listing(check, [t.c.customer_id == customer_id], "desc", params)

    @routes.get("/stores/{store_id}/reservations", response_model=ReservationPage)
    async def store_reservations(
        store_id: PathId,
        caller: Caller,
        status: StatusFilter = None,
        limit: Limit = None,
        cursor: PageCursor = None,
        wait_for: WaitFor = None,
        min_version: MinVersion = None,
    ) -> ReservationPage:
        """A store's reservations, oldest first; by default those whose stock staff still
        have to secure (status ``accepted``) (FAANS): to staff of the store and support."""
        policy.may_list_store(caller, store_id)
        check = Validation()
        wanted = _status(check, status) or "accepted"
        params = _list_params(check, limit, cursor, wait_for, min_version)
        where = [t.c.store_id == store_id, t.c.status == wanted]
        return await listing(check, where, "asc", params)

    @routes.get("/backoffice/reservations", response_model=ReservationPage)
    async def search_reservations(
        caller: Caller,
        customer_id: IdFilter = None,
        store_id: IdFilter = None,
        status: StatusFilter = None,
        from_: Annotated[
            str | None, Query(alias="from", description="accepted at or after (ISO 8601)")
        ] = None,
        to: Annotated[str | None, Query(description="accepted before (ISO 8601)")] = None,
        limit: Limit = None,
        cursor: PageCursor = None,
        wait_for: WaitFor = None,
        min_version: MinVersion = None,
    ) -> ReservationPage:
        """Customer support's search, newest first; every filter optional (backoffice):
        to support only."""
        policy.may_search(caller)
        check = Validation()
        customer = _id(check, "customer_id", customer_id)
        store = _id(check, "store_id", store_id)
        wanted = _status(check, status)
        since = _moment(check, "from", from_)
        until = _moment(check, "to", to)
        if since is not None and until is not None:
            check.check(since < until, "to", "must be later than from", "range")
        params = _list_params(check, limit, cursor, wait_for, min_version)
        where: list[ColumnElement[bool]] = []
        if customer is not None:
            where.append(t.c.customer_id == customer)
        if store is not None:
            where.append(t.c.store_id == store)
        if wanted is not None:
            where.append(t.c.status == wanted)
        if since is not None:
            where.append(t.c.accepted_at >= naive(since))
        if until is not None:
            where.append(t.c.accepted_at < naive(until))
        return await listing(check, where, "desc", params)

    @routes.get("/stores/{store_id}/stock/{sku}", response_model=StockLevel, dependencies=[PUBLIC])
    async def stock_level(
        store_id: PathId, sku: PathId, min_version: MinVersion = None
    ) -> StockLevel:
        """Units of a SKU at a store: on hand, held by reservations, available (public:
        customers check a store's stock before they reserve)."""
        check = Validation()
        version = _min_version(check, min_version)
        check.raise_if_invalid()
        await queries.wait(stock_stream(store_id, sku), version)
        found = await query(queries.stock, store_id, sku)
        if found is None:
            raise _not_found(f"stock of {sku} at store {store_id}")
        return found

    return routes


def query_routes(context: ServiceContext, codec: EventCodec) -> APIRouter:
    """The query routes on the context's query model."""
    view = query_model(context, codec)
    return router(ReservationQueries(view, read_your_writes(context, view)))

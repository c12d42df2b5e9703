"""Expiring reservations whose hold deadline passed: a periodic job of the service.

The service sends ``ExpireReservation`` on its own only here (``POST
/reservations/{id}/expire`` is the manual way): every ``EVENTFOLD_JOB_SECONDS`` the job reads
the due reservations from the query model (accepted or secured, ``hold_until`` passed,
oldest first, a bounded batch) and sends the command for each. The command id
``expire-<reservation id>`` makes a second sweeper (another process, or this one again
before the query model caught up) a harmless duplicate; no client can take that id (a
client's Idempotency-Key becomes a ``client:`` id scoped to the caller). A reservation
that moved on since the query model saw it (picked up, canceled…) is refused by its
decider and skipped.
"""

from __future__ import annotations

from datetime import datetime

import structlog
from sqlalchemy import Engine, Select, select

from eventfold import (
    CommandHandler,
    EventCodec,
    EventfoldError,
    Origin,
    RuleViolated,
    StoreError,
    service_actor,
)
from eventfold.web import Job, ServiceContext, job_seconds, query_engine
from reservations import app
from reservations.domain.reservation import HOLDING, ExpireReservation
from reservations.http import Clock, utc_now
from reservations.projection import naive, reservations

JOB_NAME = "expire-due-reservations"
BATCH = 500
"""At most this many reservations per sweep; the rest wait for the next period."""

EXPIRY_ACTOR = service_actor(JOB_NAME)
"""Who the expiry commands are from in the audit trail (role ``service``)."""

log = structlog.get_logger("reservations.expiry")


def due_query(now: datetime, limit: int = BATCH) -> Select[tuple[str]]:
    """The query for the reservations holding stock past their deadline, oldest first (it
    reads the ``ix_reservations_due`` index)."""
    t = reservations
    return (
        select(t.c.reservation_id)
        .where(t.c.status.in_([s.value for s in HOLDING]), t.c.hold_until <= naive(now))
        .order_by(t.c.hold_until, t.c.reservation_id)
        .limit(limit)
    )


def due_reservations(engine: Engine, now: datetime, limit: int = BATCH) -> list[str]:
    """The ids of the reservations holding stock past their deadline, oldest first."""
    with engine.connect() as conn:
        return list(conn.scalars(due_query(now, limit)))


def expire_due(handler: CommandHandler, engine: Engine, now: datetime) -> list[str]:
    """Send ExpireReservation for every due reservation; returns the ids it expired (or
    found expired under the same command id)."""
    expired = []
    for reservation_id in due_reservations(engine, now):
        command = ExpireReservation(reservation_id, now)
        try:
            # Every sweep sends the same command under this id; the digest tells it from
            # another command that took the id.
            origin = Origin(
                EXPIRY_ACTOR, command_id=f"expire-{reservation_id}", request_digest=JOB_NAME
            )
            app.expire_reservation(handler, command, origin)
        except RuleViolated as refused:  # moved on since the query model saw it
            log.debug("not expired", reservation_id=reservation_id, reason=str(refused))
            continue
        except StoreError:
            raise  # the store is down: the whole sweep waits for the next period
        except EventfoldError as failed:
            # One reservation that cannot expire (a conflict that outlasted the retries…)
            # must not hold up the ones behind it.
            log.warning("expiry failed", reservation_id=reservation_id, error=str(failed))
            continue
        expired.append(reservation_id)
    if expired:
        log.info("reservations expired", count=len(expired))
    return expired


def expiry_job(context: ServiceContext, codec: EventCodec, *, clock: Clock = utc_now) -> Job:
    """The job that expires due reservations every ``job_seconds(context)``."""
    handler = app.make_handler(context.store, codec)
    engine = query_engine(context)
    return Job(
        name=JOB_NAME,
        every=job_seconds(context),
        run=lambda: expire_due(handler, engine, clock()),
    )

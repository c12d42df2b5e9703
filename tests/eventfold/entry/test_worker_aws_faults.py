"""Kill -9 `eventfold worker` on the production profile (DynamoDB store, DynamoDB Streams
feed, router state in the checkpoints table, MySQL query model and effects ledger) while
it is in the middle of a batch, restart it, and check that every event was applied exactly
once: the query model equals what the write model says (stock counts are sums of events,
so a double apply shows), and the effects ledger holds each e-mail once. The SMTP sink may
see an e-mail twice only for an effect the ledger shows was retried (the crash window
between sending and recording, at most one mail batch per kill: at-least-once, with the
same Message-ID)."""

from __future__ import annotations

import email
import os
import signal
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from eventfold.adapters.aws.clients import dynamodb_client
from eventfold.adapters.aws.dynamodb_items import TableNames
from eventfold.adapters.aws.tables import create_tables
from eventfold.adapters.mail.mail_sink import MailSink, start_mail_sink
from eventfold.adapters.mail.smtp import IDEMPOTENCY_HEADER
from eventfold.adapters.sql.ledger import effects_table
from eventfold.entry.settings import load_settings, open_store
from eventfold.sql import create_engine
from reservations import app
from reservations.domain.reservation import (
    Canceler,
    CancelReservation,
    CompletePickup,
    RequestReservation,
    SecureStock,
)
from reservations.domain.stock import SetStockLevel
from reservations.projection import reservations, stock_levels
from reservations.published_language import PROTOBUF_CODEC
from tests.aws_support.moto_server import MotoAws
from tests.eventfold.adapters.sql.backends import mysql_url  # noqa: F401 (fixture)
from tests.loopback import free_port
from tests.waiting import eventually
from tests.worker_process import start_worker

PREFIX = "k-"
SKUS = 4
RESERVATIONS = 30
SECURED = 20  # of which PICKED_UP are then picked up
PICKED_UP = 5
CANCELED = 5
MAILS = RESERVATIONS + SECURED  # "received" per reservation, "ready" per secured one
MAIL_BATCH = 100  # the reservations_mail subscription's batch_size
LIMIT_SECONDS = 120.0
"""Bound on a hang (the worker never catching up), not a speed check."""

View = tuple[dict[str, tuple[str, int]], dict[str, tuple[int, int]]]
"""reservation id -> (status, version); sku -> (on hand, held)."""

pytestmark = [pytest.mark.aws, pytest.mark.mysql, pytest.mark.slow]


def workload(environ: dict[str, str]) -> list[str]:
    """~100 events in ~65 transactions: stock, reservations, secure, pickup, cancel."""
    now = datetime.now(UTC)
    with open_store(load_settings(environ)) as store:
        handler = app.make_handler(store, PROTOBUF_CODEC)
        for n in range(SKUS):
            app.set_stock_level(handler, SetStockLevel("s1", f"sku-{n}", 50, now))
        ids = [f"r{n:03d}" for n in range(RESERVATIONS)]
        for n, rid in enumerate(ids):
            command = RequestReservation(rid, f"c-{n}", "s1", f"sku-{n % SKUS}", 1 + n % 3, now)
            app.request_reservation(handler, command)
        for rid in ids[:SECURED]:
            app.secure_stock(handler, SecureStock(rid, now))
        for rid in ids[:PICKED_UP]:
            app.complete_pickup(handler, CompletePickup(rid, now))
        for rid in ids[-CANCELED:]:
            cancel = CancelReservation(rid, Canceler.CUSTOMER, "plans changed", now)
            app.cancel_reservation(handler, cancel)
    return ids


def expected_view(environ: dict[str, str], ids: list[str]) -> View:
    """The write model's answer: reservation -> (status, version); sku -> (on hand, held)."""
    with open_store(load_settings(environ)) as store:
        handler = app.make_handler(store, PROTOBUF_CODEC)
        rows: dict[str, tuple[str, int]] = {}
        for rid in ids:
            current = app.reservation_of(handler, rid)
            snapshot = store.load(app.reservation_stream(rid))
            assert snapshot is not None
            rows[rid] = (current.status.value, snapshot.version)
        levels: dict[str, tuple[int, int]] = {}
        for n in range(SKUS):
            stock = app.stock_of(handler, "s1", f"sku-{n}")
            levels[f"sku-{n}"] = (stock.on_hand, stock.held)
    return rows, levels


def view(engine: Engine) -> View:
    with engine.connect() as conn:
        found = conn.execute(
            select(reservations.c.reservation_id, reservations.c.status, reservations.c.version)
        )
        rows = {rid: (status, version) for rid, status, version in found}
        found = conn.execute(
            select(stock_levels.c.sku, stock_levels.c.on_hand, stock_levels.c.held)
        )
        levels = {sku: (on_hand, held) for sku, on_hand, held in found}
    return rows, levels


def mails_done(engine: Engine) -> int:
    """E-mails the ledger records as sent (0 before the worker made its tables)."""
    t = effects_table
    query = select(func.count()).where(t.c.reaction == "reservations_mail", t.c.status == "done")
    try:
        with engine.connect() as conn:
            return int(conn.scalar(query) or 0)
    except Exception:  # the worker has not migrated the ledger yet
        return 0


def sent_more(sink: MailSink, *, than: int) -> Callable[[], bool]:
    return lambda: len(sink.messages()) > than


def until(what: str, done: Callable[[], bool], pause: float) -> None:
    eventually(what, done, pause=pause, limit=LIMIT_SECONDS)


def test_a_killed_streams_worker_resumes_and_applies_every_event_once(
    aws: MotoAws,
    mysql_url: str,  # noqa: F811 (the imported fixture)
    tmp_path: Path,
) -> None:
    port = free_port()
    sink: MailSink = start_mail_sink(tmp_path / "mail", "127.0.0.1", port)
    environ = {
        "EVENTFOLD_STORE": "dynamodb",
        "EVENTFOLD_TABLE_PREFIX": PREFIX,
        "EVENTFOLD_AWS_REGION": aws.region,
        "EVENTFOLD_AWS_ENDPOINT_URL": aws.endpoint_url,
        "EVENTFOLD_FEED": "streams",
        "EVENTFOLD_FEED_POLL_INTERVAL": "0.1",
        "EVENTFOLD_QUERY_URL": mysql_url,
        "EVENTFOLD_SERVICES": "reservations",
        "EVENTFOLD_MAIL_SINK": "off",  # real SMTP: the crash window is the server's
        "EVENTFOLD_SMTP_PORT": str(port),
        "EVENTFOLD_LOG_LEVEL": "info",  # start_worker waits for the "routing to" line
    }
    client = dynamodb_client(region=aws.region, endpoint_url=aws.endpoint_url)
    create_tables(client, TableNames(PREFIX))
    ids = workload(environ)
    engine = create_engine(mysql_url)
    kills = 0
    try:
        while kills < 4 and mails_done(engine) < MAILS:
            before = len(sink.messages())
            worker = start_worker({**os.environ, **environ}, tmp_path)
            try:
                # mid-batch: the mail batch is under way (its effects claimed, some e-mails
                # sent, none of them settled yet), its checkpoint not yet advanced
                until("the worker to send an e-mail", sent_more(sink, than=before), 0.005)
            finally:  # also when the wait fails: a worker left running outlives the test
                worker.send_signal(signal.SIGKILL)
                worker.wait()
            kills += 1
        worker = start_worker({**os.environ, **environ}, tmp_path)
        try:
            until("every e-mail", lambda: mails_done(engine) >= MAILS, 0.1)
            want = expected_view(environ, ids)
            until("the query model", lambda: view(engine) == want, 0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            code = worker.wait(timeout=30)
        assert code == 0
        assert kills >= 2
        with engine.connect() as conn:
            ledger = conn.execute(
                select(
                    effects_table.c.effect_key, effects_table.c.status, effects_table.c.attempts
                ).where(effects_table.c.reaction == "reservations_mail")
            ).all()
    finally:
        engine.dispose()
        sink.stop()
    assert len(ledger) == MAILS
    assert {status for _, status, _ in ledger} == {"done"}
    keys = Counter(
        str(email.message_from_bytes(path.read_bytes())[IDEMPOTENCY_HEADER])
        for path in sink.messages()
    )
    sent = {f"reservations_mail/{key}" for key, _, _ in ledger}
    assert set(keys) == sent  # every e-mail sent, none lost
    retried = {f"reservations_mail/{key}" for key, _, attempts in ledger if attempts > 1}
    assert {key for key, count in keys.items() if count > 1} <= retried
    # a kill leaves at most one batch of the mail subscription claimed and not settled
    assert len(retried) <= kills * MAIL_BATCH
    twice = sum(keys.values()) - len(keys)
    print(f"{kills} kills; e-mails retried: {len(retried)}; sent twice: {twice}")

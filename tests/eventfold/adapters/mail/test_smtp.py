from __future__ import annotations

import email
import smtplib
from collections.abc import Callable, Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from eventfold import DeliveryFailed, RecordedEvent
from eventfold.adapters.mail.smtp import _UNFOLDED, _text, message_id
from eventfold.sql import SqlEffectsLedger, migrate
from eventfold.targets import (
    Email,
    MailSink,
    Reaction,
    SmtpMailer,
    mail_sink_runner,
    start_mail_sink,
)
from tests.contracts.target import CODEC, Observed, TargetContract, Tick, ticks
from tests.loopback import free_port


def read(path: Path) -> email.message.EmailMessage:
    parsed = email.message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def notify(event: Tick, recorded: RecordedEvent) -> list[Email]:
    return [Email("notice", ("ops@example.test",), recorded.key, f"tick {event.n}")]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[MailSink]:
    sink = start_mail_sink(tmp_path / "mail", port=free_port())
    yield sink
    sink.stop()


@pytest.fixture
def reaction(engine: Engine, sink: MailSink) -> Reaction:
    migrate(engine)
    mailer = SmtpMailer(sink.host, sink.port, timeout=5)
    return Reaction("mails", CODEC, {Tick: notify}, {Email: mailer}, SqlEffectsLedger(engine))


class TestMailReactionIsATarget(TargetContract):
    @pytest.fixture
    def target(self, reaction: Reaction) -> Reaction:
        return reaction

    @pytest.fixture
    def observed(self, sink: MailSink) -> Observed:
        def seen() -> dict[str, list[int]]:
            out: dict[str, list[int]] = {}
            for path in sink.messages():
                stream, version = str(read(path)["Subject"]).split(":")
                out.setdefault(stream, []).append(int(version))
            return out

        return seen


def test_each_message_names_its_effect(reaction: Reaction, sink: MailSink) -> None:
    reaction.apply(ticks("tick-a", 1, 1))
    reaction.apply(ticks("tick-a", 1, 1))
    [path] = sink.messages()
    message = read(path)
    assert message["X-Idempotency-Key"] == "mails/tick-a:1/notice"
    assert message["Message-ID"] == message_id("mails/tick-a:1/notice", "eventfold.local")
    assert message["To"] == "ops@example.test"
    assert message.get_content().strip() == "tick 1"


class _Refusing:
    def __init__(self, reply: str) -> None:
        self.reply = reply

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        return self.reply


@pytest.mark.parametrize(("reply", "retryable"), [("550 no such user", False), ("451 later", True)])
def test_smtp_refusals_park_or_retry(reply: str, retryable: bool) -> None:
    port = free_port()
    controller = Controller(_Refusing(reply), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        mailer = SmtpMailer("127.0.0.1", port, timeout=5)
        with pytest.raises(DeliveryFailed) as failure:
            mailer(Email("k", ("x@example.test",), "s", "b"), "key")
    finally:
        controller.stop()
    assert failure.value.retryable is retryable


def test_an_unreachable_mail_server_is_retryable() -> None:
    mailer = SmtpMailer("127.0.0.1", free_port(), timeout=1)
    with pytest.raises(DeliveryFailed) as failure:
        mailer(Email("k", ("x@example.test",), "s", "b"), "key")
    assert failure.value.retryable is True


def test_the_sink_runs_as_a_background_runner(tmp_path: Path) -> None:
    port = free_port()
    stop = mail_sink_runner(tmp_path / "mail", port=port)()
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            smtp.sendmail("a@example.test", ["b@example.test"], b"Subject: hi\r\n\r\nbody\r\n")
    finally:
        stop()
    [path] = list((tmp_path / "mail").glob("*.eml"))
    assert read(path)["Subject"] == "hi"
    with pytest.raises(ConnectionRefusedError), smtplib.SMTP("127.0.0.1", port, timeout=1):
        pass


class _Peers:
    """Records the client end (host, port) of the connection each message came over."""

    def __init__(self, refuse: str | None = None) -> None:
        self.peers: list[tuple[str, int]] = []
        self.refuse = refuse

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse and self.refuse in address:
            return "451 try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.peers.append(session.peer)
        return "250 accepted"


@pytest.fixture
def peers() -> Iterator[tuple[_Peers, int]]:
    port = free_port()
    handler = _Peers(refuse="b@")
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def to(address: str) -> Callable[[Tick, RecordedEvent], list[Email]]:
    def mail(event: Tick, recorded: RecordedEvent) -> list[Email]:
        return [Email("notice", (address.format(stream=recorded.stream_id),), "s", "b")]

    return mail


def test_a_batch_goes_over_one_connection(engine: Engine, peers: tuple[_Peers, int]) -> None:
    handler, port = peers
    migrate(engine)
    mailer = SmtpMailer("127.0.0.1", port, timeout=5)
    mails = Reaction(
        "mails", CODEC, {Tick: to("a@x.test")}, {Email: mailer}, SqlEffectsLedger(engine)
    )
    mails.apply(ticks("tick-a", 1, 5))
    mails.apply(ticks("tick-a", 6, 8))
    assert len(handler.peers) == 8
    assert len(set(handler.peers[:5])) == 1
    assert len(set(handler.peers[5:])) == 1
    assert handler.peers[0] != handler.peers[5]  # one connection per batch
    mailer(Email("k", ("a@x.test",), "s", "b"), "key")  # outside a batch: its own
    assert handler.peers[8] not in handler.peers[:8]


def test_after_an_error_the_next_message_reconnects(peers: tuple[_Peers, int]) -> None:
    handler, port = peers
    mailer = SmtpMailer("127.0.0.1", port, timeout=5)
    with mailer.session():
        mailer(Email("k", ("a@x.test",), "s", "b"), "1")
        with pytest.raises(DeliveryFailed) as failure:
            mailer(Email("k", ("b@x.test",), "s", "b"), "2")
        assert failure.value.retryable
        mailer(Email("k", ("a@x.test",), "s", "b"), "3")
        mailer(Email("k", ("a@x.test",), "s", "b"), "4")
    first, second, third = handler.peers
    assert first != second == third


@pytest.mark.parametrize(
    "mail",
    [
        Email("k", ("a@x.test", "B <b@x.test>"), "Plain", "line 1\nline 2\n"),
        Email("k", ("a@x.test",), "Both", "plain text\n", html="<p>html text</p>\n"),
        Email("k", ("a@x.test",), "Unicode body", "Grüße, 予約\n", html="<p>予約</p>"),
        Email("k", ("a@x.test",), "Prüfung 予約", "body\n", headers={"X-Note": "n"}),
        Email("k", ("a@x.test",), "S" * 200, "long subject\n", sender="Shop <shop@x.test>"),
    ],
)
def test_the_cheap_rendering_says_what_the_message_says(mail: Email) -> None:
    mailer = SmtpMailer(message_id_domain="shop.test")
    reference = mailer.message(mail, "mails/s:1/k")
    wire = mailer._wire(mail, "mails/s:1/k")
    if wire is None:  # not plain one-line ASCII headers: the reference rendering is sent
        assert not mail.subject.isascii()
        return
    sent = email.message_from_bytes(wire[1], policy=policy.default)
    assert isinstance(sent, email.message.EmailMessage)
    assert wire[0] == (mail.sender or mailer.sender)
    for name in ("From", "To", "Subject", "Message-ID", "X-Idempotency-Key", *mail.headers):
        assert str(sent[name]) == str(reference[name])
    for kind in ("plain", "html"):
        body, expected = sent.get_body((kind,)), reference.get_body((kind,))
        assert (body is None) == (expected is None)
        if body is not None and expected is not None:
            assert isinstance(body, email.message.EmailMessage)
            assert isinstance(expected, email.message.EmailMessage)
            assert body.get_content() == expected.get_content()


def test_a_long_idempotency_key_stays_one_raw_token_on_the_cheap_path() -> None:
    key = "reservations_mail/reservation-0123456789abcdef0123456789abcdef:1/request_received"
    mail = Email("k", ("a@x.test",), "Reservation received", "body\n")
    wire = SmtpMailer()._wire(mail, key)
    assert wire is not None  # was None: EmailMessage encoded the key as =?utf-8?q?...?=
    assert f"X-Idempotency-Key: {key}\n".encode() in wire[1]


@pytest.mark.parametrize("name", ["Cc", "bcc", "X-Idempotency-Key", "message-id"])
def test_recipients_and_own_headers_in_extra_headers_take_the_full_path(name: str) -> None:
    mail = Email("k", ("a@x.test",), "s", "b\n", headers={name: "d@x.test"})
    assert SmtpMailer()._wire(mail, "mails/s:1/k") is None  # send_message: Bcc stripped,
    # every recipient on the envelope, one Message-ID and one idempotency key


_ASCII = st.text(st.characters(min_codepoint=0, max_codepoint=127), max_size=300)
_HEADER = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(body=_ASCII, subject=_HEADER, to=st.lists(_HEADER, min_size=1, max_size=3))
def test_plain_ascii_mail_renders_byte_for_byte_as_the_email_package_does(
    body: str, subject: str, to: list[str]
) -> None:
    mailer = SmtpMailer(message_id_domain="shop.test")
    mail = Email("k", tuple(to), subject, body)
    wire = mailer._wire(mail, "mails/s:1/k")
    assume(wire is not None)
    assert wire is not None
    reference = _text(body, "plain")
    for name, value in (
        ("From", mailer.sender),
        ("To", ", ".join(to)),
        ("Subject", subject),
        ("Message-ID", message_id("mails/s:1/k", "shop.test")),
        ("X-Idempotency-Key", "mails/s:1/k"),
    ):
        reference[name] = value
    assert wire[1] == reference.as_bytes(policy=_UNFOLDED)

from __future__ import annotations

import email
import smtplib
from collections.abc import Iterator
from email import policy
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from eventfold import DeliveryFailed, RecordedEvent
from eventfold.sql import SqlEffectsLedger, migrate
from eventfold.targets import (
    Email,
    MailSink,
    Reaction,
    SmtpMailer,
    mail_sink_runner,
    message_id,
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

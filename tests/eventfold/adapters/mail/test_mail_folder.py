"""Local e-mail as files: one ``.eml`` per message, rendered as SMTP would send it, the
same file again (not a second one) when an effect is re-delivered."""

from __future__ import annotations

import email
from email import policy
from pathlib import Path

import pytest

from eventfold.adapters.mail.mail_folder import MailFolder
from eventfold.core.reactions.effects import Email
from eventfold.errors import DeliveryFailed


def test_each_message_is_one_file_and_a_redelivery_adds_none(tmp_path: Path) -> None:
    folder = MailFolder(tmp_path / "mail", sender="shop@example.com")
    hello = Email("hello", ("c-1@example.com",), "Reservation r1 received", "Thanks!")
    folder(hello, "reservations_mail/reservation-r1:1/mail")
    folder(hello, "reservations_mail/reservation-r1:1/mail")  # after a crash: the same key
    folder(hello, "reservations_mail/reservation-r2:1/mail")
    files = folder.messages()
    assert len(files) == 2
    message = email.message_from_bytes(files[0].read_bytes(), policy=policy.default)
    assert message["Subject"] == "Reservation r1 received"
    assert message["From"] == "shop@example.com"
    assert message["X-Idempotency-Key"] == "reservations_mail/reservation-r1:1/mail"
    assert message.get_content().strip() == "Thanks!"
    assert not list((tmp_path / "mail").glob("*.part"))


def test_a_folder_that_cannot_be_written_is_a_retryable_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "mail"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(DeliveryFailed) as failure:
        MailFolder(blocker)(Email("x", ("a@b.c",), "s", "b"), "k")
    assert failure.value.retryable

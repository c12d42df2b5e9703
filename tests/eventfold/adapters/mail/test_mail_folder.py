"""Local e-mail as files: one ``.eml`` per message, rendered as SMTP would send it, the
same file again (not a second one) when an effect is re-delivered."""

from __future__ import annotations

import email
import os
from collections.abc import Iterator
from email import policy
from pathlib import Path

import pytest

from eventfold.adapters.mail import mail_folder
from eventfold.adapters.mail.mail_folder import MailFolder
from eventfold.core.reactions.effects import Email
from eventfold.errors import DeliveryFailed


@pytest.fixture(params=["unnamed first", "written aside"])
def write_way(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Both ways of writing a message: a file with no name linked under its name (Linux's
    O_TMPFILE), and, where the file system refuses that (here: a flag it refuses), a
    ``.part`` file renamed. Either way, the test's end checks that it was the way taken
    (renames counted)."""
    if request.param == "unnamed first" and not mail_folder._UNNAMED:
        pytest.skip("this system has no O_TMPFILE")
    if request.param == "written aside":
        monkeypatch.setattr(mail_folder, "_UNNAMED", os.O_DIRECTORY)  # open(2): EISDIR
    renames: list[str] = []
    rename = os.replace

    def counted(source: str, target: str) -> None:
        renames.append(target)
        rename(source, target)

    monkeypatch.setattr(os, "replace", counted)
    yield str(request.param)
    if request.param == "unnamed first":
        assert renames == [], "a message was written aside and renamed"
    else:
        assert renames, "no message was written aside and renamed"


def test_each_message_is_one_file_and_a_redelivery_adds_none(
    tmp_path: Path, write_way: str
) -> None:
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
    assert sorted(os.listdir(tmp_path / "mail")) == sorted(f.name for f in files)  # nothing else


def test_a_folder_that_cannot_be_written_is_a_retryable_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "mail"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(DeliveryFailed) as failure:
        MailFolder(blocker)(Email("x", ("a@b.c",), "s", "b"), "k")
    assert failure.value.retryable


def test_a_redelivered_message_keeps_the_first_file(tmp_path: Path, write_way: str) -> None:
    folder = MailFolder(tmp_path / "mail")
    key = "reservations_mail/reservation-r1:1/mail"
    folder(Email("hello", ("c-1@example.com",), "first", "body"), key)
    folder(Email("hello", ("c-1@example.com",), "second", "body"), key)
    (only,) = folder.messages()
    message = email.message_from_bytes(only.read_bytes(), policy=policy.default)
    assert message["Subject"] == "first"


def test_a_folder_removed_while_in_use_is_made_again(tmp_path: Path, write_way: str) -> None:
    folder = MailFolder(tmp_path / "mail")
    folder(Email("x", ("a@b.c",), "first", "b"), "k-1")
    for old in (tmp_path / "mail").iterdir():
        old.unlink()
    (tmp_path / "mail").rmdir()
    with pytest.raises(DeliveryFailed) as failure:
        folder(Email("x", ("a@b.c",), "second", "b"), "k-2")
    assert failure.value.retryable  # and the retry makes the folder again
    folder(Email("x", ("a@b.c",), "second", "b"), "k-2")
    (only,) = folder.messages()
    message = email.message_from_bytes(only.read_bytes(), policy=policy.default)
    assert message["Subject"] == "second"

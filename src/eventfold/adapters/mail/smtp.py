"""E-mail over SMTP (smtplib): the :class:`SmtpMailer` effect performer.

Every message gets a ``Message-ID`` derived from the effects-ledger key (and the key itself
in ``X-Idempotency-Key``), so the rare duplicate after a crash (see
:mod:`eventfold.core.reactions.reaction`) carries the same id and can be dropped by the
receiving side. SMTP 4xx replies and connection trouble are retryable; 5xx replies (a
refused recipient, a rejected message) raise ``DeliveryFailed(retryable=False)``.

Rendering: a message whose header values are printable ASCII (the usual case) is rendered
with the ``compat32`` classes (:class:`~email.mime.text.MIMEText`), about 6x cheaper than
:class:`~email.message.EmailMessage` with the default policy, which the mailer still uses
for anything else and which :meth:`SmtpMailer.message` returns (previews, tests); both give
the same headers and content, except that a long unbreakable value (the idempotency key of
a long stream id) stays one raw token here (see :func:`_plain`).

Connections: a reaction opens a :meth:`SmtpMailer.session` around the effects of one batch,
and every message of the batch goes over ONE connection (opened at the first message,
closed with QUIT at the end). After any error the connection is dropped; the next message
opens a new one. Outside a session each message has a connection of its own.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32

from eventfold.core.reactions.effects import Email
from eventfold.errors import DeliveryFailed

IDEMPOTENCY_HEADER = "X-Idempotency-Key"
_FOLD_AT = 78
_LINE_LIMIT = 998
_SENT_DIFFERENTLY = frozenset(
    {"cc", "bcc", "sender", "from", "to", "subject", "message-id", IDEMPOTENCY_HEADER.lower()}
)
"""Extra headers the cheap path leaves to ``send_message``: more recipients (which it must
put on the envelope, and Bcc which it must strip), or one of the headers it sets itself."""
_UNFOLDED = compat32.clone(max_line_length=None)
"""compat32 that writes the headers :func:`_plain` admits as they are (it would move a long
token to a continuation line, which a reader unfolds with a leading space)."""


def message_id(idempotency_key: str, domain: str) -> str:
    """A stable RFC 5322 Message-ID for an idempotency key."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


class SmtpMailer:
    """Sends :class:`Email` effects through an SMTP server: one connection per
    :meth:`session` (a reaction's batch), else one per message. Sessions are per thread,
    so one mailer may serve several subscriptions.

    ``starttls`` upgrades the connection; ``username``/``password`` log in when given."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 25,
        *,
        sender: str = "eventfold@localhost",
        timeout: float = 10.0,
        message_id_domain: str = "eventfold.local",
        starttls: bool = False,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.timeout = timeout
        self.message_id_domain = message_id_domain
        self.starttls = starttls
        self.username = username
        self.password = password
        self._local = threading.local()

    def message(self, email: Email, idempotency_key: str) -> EmailMessage:
        """The message :meth:`__call__` sends (public for previews and tests)."""
        message = EmailMessage()
        message["From"] = email.sender or self.sender
        message["To"] = ", ".join(email.to)
        message["Subject"] = email.subject
        message["Message-ID"] = message_id(idempotency_key, self.message_id_domain)
        message[IDEMPOTENCY_HEADER] = idempotency_key
        for name, value in email.headers.items():
            message[name] = value
        message.set_content(email.body)
        if email.html is not None:
            message.add_alternative(email.html, subtype="html")
        return message

    def render(self, email: Email, idempotency_key: str) -> bytes:
        """The message as it goes on the wire (what a receiver stores as an ``.eml``)."""
        wire = self._wire(email, idempotency_key)
        return wire[1] if wire is not None else self.message(email, idempotency_key).as_bytes()

    def _wire(self, email: Email, idempotency_key: str) -> tuple[str, bytes] | None:
        """(envelope sender, message bytes) by the cheap compat32 path; None when a header
        is not plain printable ASCII or would need folding, or when ``email.headers`` names
        recipients or a header this path sets (then :meth:`message` renders it and
        ``send_message`` sends it)."""
        if any(name.lower() in _SENT_DIFFERENTLY for name in email.headers):
            return None  # send_message: every recipient on the envelope, no Bcc line
        sender = email.sender or self.sender
        headers = {
            "From": sender,
            "To": ", ".join(email.to),
            "Subject": email.subject,
            "Message-ID": message_id(idempotency_key, self.message_id_domain),
            IDEMPOTENCY_HEADER: idempotency_key,
            **email.headers,
        }
        if not all(_plain(name, value) for name, value in headers.items()):
            return None
        if email.html is None and email.body.isascii():
            return sender, _ascii_text(headers, email.body)
        root: Message = _text(email.body, "plain")
        if email.html is not None:
            root = MIMEMultipart("alternative", _subparts=[root, _text(email.html, "html")])
        for name, value in headers.items():
            root[name] = value
        return sender, root.as_bytes(policy=_UNFOLDED)

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep one connection for the messages sent until the block ends (this thread)."""
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
        else:
            self._local.depth, self._local.smtp = 1, None
        try:
            yield
        finally:
            self._local.depth -= 1
            if not self._local.depth:
                self._drop(quit_first=True)

    def __call__(self, email: Email, idempotency_key: str) -> None:
        wire = self._wire(email, idempotency_key)
        where = f"SMTP {self.host}:{self.port}"
        in_session = bool(getattr(self._local, "depth", 0))
        try:
            smtp = self._connection() if in_session else self._connect()
            try:
                if wire is not None:
                    smtp.sendmail(wire[0], list(email.to), wire[1])
                else:
                    smtp.send_message(self.message(email, idempotency_key))
            except BaseException:
                if in_session:
                    self._drop(quit_first=False)
                raise
            finally:
                if not in_session:
                    _close(smtp, quit_first=True)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            retryable = all(400 <= code < 500 for code in codes)
            raise DeliveryFailed(f"{where} refused {exc.recipients}", retryable=retryable) from exc
        except smtplib.SMTPResponseException as exc:
            retryable = 400 <= exc.smtp_code < 500
            raise DeliveryFailed(
                f"{where}: {exc.smtp_code} {exc.smtp_error!r}", retryable=retryable
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise DeliveryFailed(f"{where}: {type(exc).__name__}: {exc}") from exc

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username is not None:
                smtp.login(self.username, self.password or "")
        except BaseException:
            _close(smtp, quit_first=False)
            raise
        return smtp

    def _connection(self) -> smtplib.SMTP:
        """The session's connection, opened on first use."""
        smtp: smtplib.SMTP | None = self._local.smtp
        if smtp is None:
            smtp = self._local.smtp = self._connect()
        return smtp

    def _drop(self, *, quit_first: bool) -> None:
        smtp: smtplib.SMTP | None = getattr(self._local, "smtp", None)
        self._local.smtp = None
        if smtp is not None:
            _close(smtp, quit_first=quit_first)


def _plain(name: str, value: str) -> bool:
    """A header the cheap rendering writes as it is: printable ASCII, on one line of <= 78,
    or longer but one unbreakable token (no space to fold at; RFC 5322 allows lines of up to
    998). EmailMessage would write such a token, e.g. a long ``X-Idempotency-Key``, as
    RFC 2047 encoded-words instead, which a receiver matching the key literally would not
    recognise."""
    line = f"{name}: {value}"
    if not (line.isascii() and line.isprintable()):
        return False
    return len(line) <= _FOLD_AT or (len(line) <= _LINE_LIMIT and " " not in value)


def _text(content: str, subtype: str) -> MIMEText:
    if not content.endswith("\n"):  # as EmailMessage.set_content does
        content += "\n"
    return MIMEText(content, subtype, "us-ascii" if content.isascii() else "utf-8")


_NEWLINES = re.compile(r"\r\n|\r|\n")
_ASCII_TEXT_HEAD = (
    'Content-Type: text/plain; charset="us-ascii"\nMIME-Version: 1.0\n'
    "Content-Transfer-Encoding: 7bit\n"
)


def _ascii_text(headers: dict[str, str], body: str) -> bytes:
    """What ``_text(body, "plain")`` with ``headers`` renders to under :data:`_UNFOLDED`,
    without building the message: the router's mail reaction spent a fifth of its CPU in
    the email package for these few lines (``tests/.../test_smtp.py`` checks the two agree
    byte for byte over generated bodies and headers)."""
    if not body.endswith("\n"):
        body += "\n"
    head = "".join(f"{name}: {value}\n" for name, value in headers.items())
    return (_ASCII_TEXT_HEAD + head + "\n" + "\n".join(_NEWLINES.split(body))).encode("ascii")


def _close(smtp: smtplib.SMTP, *, quit_first: bool) -> None:
    """Close a connection; a server that already hung up is no error."""
    with suppress(smtplib.SMTPException, OSError):
        if quit_first:
            smtp.quit()
    smtp.close()

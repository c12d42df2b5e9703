"""eventfold's facade for side effects: reactions, e-mail and webhooks (the ``[http]``
extra: httptools parses the partners' answers, aiosmtpd runs the development mail sink).

A reaction turns events into effects with plain functions; each effect is performed once
(an effects ledger keyed by ``<stream>:<version>/<effect key>``) however often the event is
redelivered, redriven or replayed::

    from eventfold.sql import SqlEffectsLedger
    from eventfold.targets import Email, Reaction, SmtpMailer, WebhookCall, WebhookSender

    def confirm(event: ReservationPlaced, recorded: RecordedEvent) -> list[Email]:
        return [Email("confirmation", (event.email,), "Reservation received", "...")]

    reaction = Reaction(
        "reservation_mails", codec, {ReservationPlaced: confirm},
        {Email: SmtpMailer("127.0.0.1", 8025), WebhookCall: WebhookSender(partner_url)},
        SqlEffectsLedger(engine),
    )

``webhook_target`` POSTs every event to a partner (JSON, or any ``encode(event) ->
(bytes, content_type)`` such as a protobuf encoder) with an ``Idempotency-Key`` header.
``MailFolder`` writes each e-mail as an ``.eml`` file, named after its key (what
``eventfold run`` uses by default); ``start_mail_sink`` / ``mail_sink_runner`` run a local
SMTP server writing ``.eml`` files, to see what an ``SmtpMailer`` sends (development).
See :mod:`eventfold.core.reactions.reaction` for the exact crash window.
"""

from eventfold.entry.extras import require_extra

require_extra("eventfold.targets", "http")

from eventfold.adapters.mail.mail_folder import MailFolder
from eventfold.adapters.mail.mail_sink import MailSink, mail_sink_runner, start_mail_sink
from eventfold.adapters.mail.smtp import SmtpMailer
from eventfold.adapters.webhooks.webhook import (
    IDEMPOTENCY_KEY_HEADER,
    WebhookSender,
    json_payload,
    webhook_target,
)
from eventfold.core.reactions.effects import (
    Effect,
    EffectPerformer,
    Email,
    PayloadEncoder,
    WebhookCall,
)
from eventfold.core.reactions.memory import MemoryEffectsLedger
from eventfold.core.reactions.reaction import (
    EffectsLedger,
    Reaction,
    ReactionHandler,
    idempotency_key,
)

__all__ = [
    "IDEMPOTENCY_KEY_HEADER",
    "Effect",
    "EffectPerformer",
    "EffectsLedger",
    "Email",
    "MailFolder",
    "MailSink",
    "MemoryEffectsLedger",
    "PayloadEncoder",
    "Reaction",
    "ReactionHandler",
    "SmtpMailer",
    "WebhookCall",
    "WebhookSender",
    "idempotency_key",
    "json_payload",
    "mail_sink_runner",
    "start_mail_sink",
    "webhook_target",
]

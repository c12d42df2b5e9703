"""The public face of eventfold's codecs (the ``[protobuf]`` extra).

``JsonCodec`` (domain kit, stdlib only) and ``ProtobufCodec`` (the published language in
Protocol Buffers) both implement :class:`EventCodec`. The SQS/SNS targets call
:func:`encode_outbound` with the subscription's configured :class:`OutboundFormat` and get
the body bytes and the content type that says which (``eventfold.targets.webhook_target``
sends its own JSON envelope unless given an ``encode``).
"""

from eventfold.entry.extras import require_extra

require_extra("eventfold.codecs", "protobuf")

from eventfold.adapters.protobuf.codec import (
    PROTOBUF_CONTENT_TYPE,
    EnvelopeFields,
    ProtobufCodec,
)
from eventfold.adapters.protobuf.outbound import (
    OutboundFormat,
    PublishesEnvelopes,
    encode_outbound,
    outbound_text,
)
from eventfold.domain.codecs import JSON_CONTENT_TYPE, EventCodec, JsonCodec

__all__ = [
    "JSON_CONTENT_TYPE",
    "PROTOBUF_CONTENT_TYPE",
    "EnvelopeFields",
    "EventCodec",
    "JsonCodec",
    "OutboundFormat",
    "ProtobufCodec",
    "PublishesEnvelopes",
    "encode_outbound",
    "outbound_text",
]

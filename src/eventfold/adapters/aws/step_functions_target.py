"""The Step Functions target: each event starts one execution of a state machine.

The seed's variant "Pipes -> Step Functions": a workflow with parallel steps, retries and
compensation runs in Step Functions instead of in the service. The router calls
StartExecution once per event of the chosen types, with the event's JSON envelope (the body
the SQS target sends, :mod:`eventfold.adapters.protobuf.outbound`: ``stream_id``, ``version``,
``recorded_at``, ``metadata`` and the event under its snake_case type name) as the input.

Exactly one execution per event, however often the router delivers it: the execution's name
is derived from the stream and version (:func:`execution_name`), and a STANDARD state
machine refuses a second execution of the same name for 90 days. When StartExecution answers
ExecutionAlreadyExists, the target reads that execution's input: the same input means this
event started it before (done); another input means the name is taken by something else, an
error that parks the stream rather than start nothing silently. (EXPRESS state machines do
not deduplicate names: use STANDARD with this target.)

The reservation service's saga, as Amazon States Language for this target, is
``examples/reservations/stepfunctions/reservation_saga.asl.json``
(docs/services/reservations.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from eventfold.adapters.aws.errors import Backoff, error_code
from eventfold.adapters.aws.lambda_target import sent_events, wanted_types
from eventfold.adapters.aws.service_calls import call_service
from eventfold.adapters.protobuf.outbound import OutboundFormat, encode_outbound
from eventfold.domain.codecs import EventCodec
from eventfold.domain.events import RecordedEvent
from eventfold.errors import DeliveryFailed, EventfoldError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

MAX_EXECUTION_NAME = 80
MAX_INPUT_BYTES = 256 * 1024
"""Step Functions' limit for an execution's input (UTF-8)."""
_PLAIN_STREAM = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
ALREADY_EXISTS = "ExecutionAlreadyExists"


def execution_name(event: RecordedEvent) -> str:
    """The execution name for ``event``: ``<stream>.<version>`` when the stream id is plain
    ASCII (letters, digits, ``_ - .``) and it fits 80 characters; otherwise the stream id
    with other characters as ``_``, cut to fit, then ``.<version>.h<16 hex of SHA-256 of the
    stream id>``. One name per (stream, version) and back: a plain name ends in the version
    (digits), a hashed one in ``h`` + hex, and the part before the last dot is the stream.
    Only characters Step Functions allows in a name (no whitespace, brackets, wildcards,
    ``"#%\\^|~`$&,;:/`` or control characters; ASCII, so CloudWatch logs take it too)."""
    plain = f"{event.stream_id}.{event.version}"
    if _PLAIN_STREAM.match(event.stream_id) and len(plain) <= MAX_EXECUTION_NAME:
        return plain
    digest = hashlib.sha256(event.stream_id.encode()).hexdigest()[:16]
    suffix = f".{event.version}.h{digest}"
    readable = _UNSAFE.sub("_", event.stream_id)
    return readable[: MAX_EXECUTION_NAME - len(suffix)] + suffix


def execution_arn(state_machine_arn: str, name: str) -> str:
    """``arn:…:stateMachine:<machine>`` + name -> ``arn:…:execution:<machine>:<name>``."""
    return state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def execution_input(codec: EventCodec, event: RecordedEvent) -> str:
    """The execution's input: the event's JSON envelope."""
    body, _ = encode_outbound(codec, event, OutboundFormat.JSON)
    return body.decode()


class StepFunctionsTarget:
    """A Target starting one execution of ``state_machine_arn`` per event of the codec's
    types (or of the classes in ``only``), in stream order (see the module doc)."""

    def __init__(
        self,
        client: SFNClient,
        state_machine_arn: str,
        codec: EventCodec,
        *,
        name: str = "step-functions",
        only: Collection[type] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self.state_machine_arn = state_machine_arn
        self.codec = codec
        self._client = client
        self._wanted = wanted_types(codec, only)
        self._backoff = backoff or Backoff(attempts=3)
        self._where = f"state machine {state_machine_arn}"

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        for event in sent_events(self.codec, self._wanted, events):
            self._start(event)

    def _start(self, event: RecordedEvent) -> None:
        name = execution_name(event)
        document = execution_input(self.codec, event)
        if len(document.encode()) > MAX_INPUT_BYTES:
            raise DeliveryFailed(
                f"{self._where}: {event.key} is {len(document.encode())} bytes as input; the "
                f"limit is {MAX_INPUT_BYTES} (256 KiB): pass a reference instead",
                retryable=False,
            )

        def start() -> Mapping[str, Any]:
            return self._client.start_execution(
                stateMachineArn=self.state_machine_arn, name=name, input=document
            )

        try:
            call_service(
                start,
                self._backoff,
                "Step Functions",
                f"StartExecution {name}",
                passthrough=frozenset({ALREADY_EXISTS}),
            )
        except ClientError as exists:  # only ExecutionAlreadyExists passes through
            self._check_same_input(event, name, document, exists)
        except EventfoldError as failed:
            raise DeliveryFailed(f"{self._where}: {event.key} not started: {failed}") from failed

    def _check_same_input(
        self, event: RecordedEvent, name: str, document: str, exists: ClientError
    ) -> None:
        """ExecutionAlreadyExists: done when that execution has this event's input."""
        arn = execution_arn(self.state_machine_arn, name)

        def describe() -> Mapping[str, Any]:
            return self._client.describe_execution(executionArn=arn)

        try:
            found = call_service(describe, self._backoff, "Step Functions", f"Describe {arn}")
        except EventfoldError as failed:
            raise DeliveryFailed(
                f"{self._where}: {event.key}: execution {name} exists, and reading it "
                f"failed: {failed}"
            ) from failed
        if _same_json(found.get("input"), document):
            return  # this event started it before: a redelivery
        raise DeliveryFailed(
            f"{self._where}: execution {name} exists with another input than {event.key}'s: "
            f"a name taken by another starter, or a different event at this stream and "
            f"version ({error_code(exists)})",
            retryable=False,
        )


def _same_json(stored: object, document: str) -> bool:
    if not isinstance(stored, str):
        return False
    try:
        return bool(json.loads(stored) == json.loads(document))
    except json.JSONDecodeError:
        return False


def step_functions_target(
    client: SFNClient,
    state_machine_arn: str,
    codec: EventCodec,
    *,
    name: str = "step-functions",
    only: Collection[type] | None = None,
    backoff: Backoff | None = None,
) -> StepFunctionsTarget:
    """A Target starting one execution per event (see :class:`StepFunctionsTarget`)."""
    return StepFunctionsTarget(
        client, state_machine_arn, codec, name=name, only=only, backoff=backoff
    )

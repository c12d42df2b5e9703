"""The reservation service's published language (examples/reservations/proto).

Round trips and stored fixtures for every event, the generated module in step with the
.proto, the service storing protobuf, a consumer that has only the .proto files, and a
payload the code cannot read parked by the router with its reason.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from google.protobuf.descriptor_pb2 import FileDescriptorSet

from eventfold import (
    CodecError,
    EventData,
    RecordedEvent,
    SqliteEventStore,
    StreamWrite,
    UnknownEventType,
)
from eventfold.adapters.sqlite.router_state import SqliteRouterState
from eventfold.codecs import ProtobufCodec, encode_outbound, outbound_text
from eventfold.core.router.router import Router
from eventfold.devtools.schema_gate import compile_protos, summarize
from eventfold.domain.events import CONTENT_TYPE
from eventfold.entry.cli.streams import payload_json
from eventfold.entry.operations import codecs_by_category
from eventfold.router import Subscription
from eventfold.testing import to_plain
from reservations.app import JSON_CODEC, make_handler, request_reservation, set_stock_level
from reservations.domain.events import EVENT_TYPES
from reservations.domain.reservation import RequestReservation
from reservations.domain.stock import SetStockLevel
from reservations.proto.eventfold.reservations.v1 import events_pb2
from reservations.published_language import MESSAGE_TYPE, PROTO_ROOT, PROTOBUF_CODEC
from reservations.service import service
from tests.contracts.event_codec import EventCodecContract
from tests.contracts.event_codec import recorded as contract_recorded
from tests.eventfold.adapters.protobuf.protos import load_messages
from tests.examples.reservations.published_language_samples import (
    SAMPLES,
    load_fixtures,
    published_names,
    registered_names,
)
from tests.sqlite_support import sqlite_store

AT = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
RECORDER = "python -m tests.examples.reservations.published_language_samples"


def recorded(
    data: EventData, stream_id: str = "reservation-r-1", version: int = 1
) -> RecordedEvent:
    return RecordedEvent(stream_id, version, data.type, data.data, data.schema, {}, AT)


def test_every_event_has_a_sample_and_every_published_one_a_stored_fixture() -> None:
    sampled = {type(s).__name__ for s in SAMPLES}
    stored = {(e["type"], e["schema"]) for e in load_fixtures()}
    published = published_names()
    current = {(entry.name, entry.schema) for entry in EVENT_TYPES if entry.name in published}

    assert registered_names() <= sampled
    assert published <= registered_names(), "an event of the baseline is no longer registered"
    assert {"ReservationAccepted", "StockLevelSet"} <= published  # the baseline was read
    assert current <= stored, f"record fixtures of the current schemas: {RECORDER}"


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_survives_a_round_trip(event: object) -> None:
    data = PROTOBUF_CODEC.encode(event)

    assert PROTOBUF_CODEC.decode(recorded(data)) == event
    assert events_pb2.Event.FromString(data.data).WhichOneof("body") is not None


@pytest.mark.parametrize(
    "fixture", load_fixtures(), ids=lambda f: f"{f['type']}-schema{f['schema']}"
)
def test_every_stored_fixture_decodes_with_the_current_code(fixture: dict[str, object]) -> None:
    data = base64.b64decode(str(fixture["data"]))
    schema = int(str(fixture["schema"]))
    event = RecordedEvent("reservation-r-1", 1, str(fixture["type"]), data, schema, {}, AT)

    decoded = PROTOBUF_CODEC.decode(event)

    now = to_plain(decoded)
    meant = fixture["meant"]
    assert isinstance(meant, dict)
    # Fields that still exist keep their meaning (retyped ones go through upcasters, whose
    # own tests pin their output); added fields take their defaults.
    assert {k: now[k] for k in meant if k in now} == {k: v for k, v in meant.items() if k in now}
    assert PROTOBUF_CODEC.to_json(event)  # the operator view reads it too


def test_the_generated_module_matches_the_proto_files() -> None:
    compiled = summarize(compile_protos(PROTO_ROOT))
    generated = FileDescriptorSet()
    generated.file.add().MergeFromString(events_pb2.DESCRIPTOR.serialized_pb)

    assert summarize(generated) == compiled, "the *_pb2.py modules are stale: run `make proto`"


def test_every_message_field_mirrors_a_dataclass_field() -> None:
    for entry in EVENT_TYPES:
        message = getattr(events_pb2, entry.name).DESCRIPTOR
        proto_fields = [f.name for f in message.fields if not f.GetOptions().deprecated]
        assert proto_fields == [f.name for f in dataclasses.fields(entry.cls)], entry.name


def test_the_service_stores_and_publishes_protobuf(tmp_path: Path) -> None:
    assert service.codec is PROTOBUF_CODEC
    store = SqliteEventStore(tmp_path / "events.db", durability="off")
    try:
        handler = make_handler(store, PROTOBUF_CODEC)
        set_stock_level(handler, SetStockLevel("shibuya", "SKU-1", 5, AT))
        request_reservation(handler, RequestReservation("r-9", "c-1", "shibuya", "SKU-1", 2, AT))
        [accepted] = store.read("reservation-r-9")
    finally:
        store.close()

    assert accepted.metadata["content_type"] == "application/x-protobuf"
    stored = events_pb2.Event.FromString(accepted.data)
    assert stored.reservation_accepted.quantity == 2
    body, content_type = encode_outbound(PROTOBUF_CODEC, accepted, "protobuf")
    assert content_type == f"application/x-protobuf; messageType={MESSAGE_TYPE}"
    assert events_pb2.Event.FromString(body).stream_id == "reservation-r-9"


def test_the_cli_shows_stored_protobuf_events_as_readable_json() -> None:
    event = recorded(PROTOBUF_CODEC.encode(SAMPLES[0]))

    shown = payload_json(event, codecs_by_category([service]))

    assert shown == {
        "reservation_id": "r-1",
        "customer_id": "c-7",
        "store_id": "shibuya",
        "sku": "SKU-123",
        "quantity": 2,
        "accepted_at": "2026-11-22T09:30:15.250Z",
        "hold_until": "2026-11-25T09:30:15Z",
    }


def test_a_consumer_with_only_the_proto_files_reads_what_is_published() -> None:
    """No generated Python, no eventfold: compile the .proto files as another language
    would and parse a base64 SQS/SNS body with them."""
    foreign = load_messages(PROTO_ROOT)[MESSAGE_TYPE]
    data = PROTOBUF_CODEC.encode(SAMPLES[0])
    body, content_type = encode_outbound(
        PROTOBUF_CODEC, recorded(data, "reservation-r-1", 7), "protobuf"
    )

    message = foreign.FromString(base64.b64decode(outbound_text(body, content_type)))

    assert (message.stream_id, message.version) == ("reservation-r-1", 7)
    assert message.WhichOneof("body") == "reservation_accepted"
    assert message.reservation_accepted.sku == "SKU-123"


class Decoding:
    """A target that decodes what it gets, as a projection of this service would."""

    name = "decoding"

    def __init__(self) -> None:
        self.applied: list[tuple[str, int]] = []

    def apply(self, events: Sequence[RecordedEvent]) -> None:
        for event in events:
            PROTOBUF_CODEC.decode(event)
            self.applied.append((event.stream_id, event.version))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    """Durability "off", not the "normal" of tests/examples' store."""
    yield from sqlite_store(tmp_path, "off")


def test_unreadable_payloads_are_parked_with_the_reason_never_skipped(
    store: SqliteEventStore,
) -> None:
    good = PROTOBUF_CODEC.encode(SAMPLES[0])
    garbage = EventData("ReservationAccepted", b"\xff\xffnot protobuf")
    unknown = EventData("ReservationTeleported", good.data)
    for stream_id, data in [("reservation-a", garbage), ("reservation-b", unknown)]:
        store.append(StreamWrite(stream_id, 0, [data, good], b"{}", "test"))
    store.append(StreamWrite("reservation-c", 0, [good], b"{}", "test"))
    state = SqliteRouterState(store.path, durability="off")
    target = Decoding()
    try:
        router = Router(
            Subscription("decoding", target),
            store,
            versions=state,
            parking=state,
            sleep=lambda _: None,
        )
        report = router.deliver(store.read_all(0, 100))
        parked = {p.stream_id: p for p in state.list_parked("decoding")}
    finally:
        state.close()

    assert target.applied == [("reservation-c", 1)]  # the healthy stream flowed
    assert sorted(report.parked) == [
        ("reservation-a", 1),
        ("reservation-a", 2),
        ("reservation-b", 1),
        ("reservation-b", 2),
    ]
    assert parked["reservation-a"].reason.startswith(f"{CodecError.__name__}: reservation-a:1")
    assert "payload is not a protobuf eventfold.reservations.v1.Event" in (
        parked["reservation-a"].reason
    )
    assert parked["reservation-b"].reason.startswith(UnknownEventType.__name__)
    assert "ReservationTeleported" in parked["reservation-b"].reason


class TestReservationCodec(EventCodecContract):
    """The service's codec on one sample of every event; every event is at schema 1, and
    ``older`` holds them as a JSON deployment (``make_handler``'s default) stored them."""

    @pytest.fixture
    def codec(self) -> ProtobufCodec:
        return PROTOBUF_CODEC

    @pytest.fixture
    def samples(self) -> Sequence[object]:
        return SAMPLES

    @pytest.fixture
    def older(self) -> list[tuple[RecordedEvent, object]]:
        as_json = {CONTENT_TYPE: JSON_CODEC.content_type}
        return [(contract_recorded(JSON_CODEC.encode(s, as_json)), s) for s in SAMPLES]

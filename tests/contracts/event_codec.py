"""The EventCodec contract: every event codec passes these tests.

An adapter's test class subclasses :class:`EventCodecContract` and provides ``codec``,
``samples`` (one event of every type registered in ``codec.types``) and ``older`` (events
as older code stored them, each with what it means now: at least one per older schema of
each registered type, so empty only when every type is at schema 1)::

    class TestJsonCodec(EventCodecContract):
        @pytest.fixture
        def codec(self): return JsonCodec(EVENT_TYPES)
        ...

The promises are the ones the rest of eventfold relies on: the handler stores what
``encode`` gives with ``content_type`` in the metadata, folds and reactions ``decode`` it
(upcasting old schemas), the router parks an event whose decode raises ``CodecError`` (any
other exception would be retried as a bug), and ``eventfold events`` shows ``to_json``
(catching ``CodecError`` only).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import UTC, datetime

import pytest

from eventfold import CodecError, EventData, RecordedEvent, UnknownEventType
from eventfold.domain.codecs import EventCodec
from eventfold.domain.events import CONTENT_TYPE

AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
Older = Sequence[tuple[RecordedEvent, object]]


def recorded(
    data: EventData,
    metadata: Mapping[str, str] | None = None,
    *,
    type_: str | None = None,
    schema: int | None = None,
    payload: bytes | None = None,
) -> RecordedEvent:
    """``data`` as the store would hand it back (or with one part replaced)."""
    return RecordedEvent(
        "thing-t-1",
        7,
        data.type if type_ is None else type_,
        data.data if payload is None else payload,
        data.schema if schema is None else schema,
        dict(data.metadata if metadata is None else metadata),
        AT,
        position=42,
    )


@dataclass(frozen=True)
class NeverRegistered:
    name: str


def _name(event: object) -> str:
    return type(event).__name__


class EventCodecContract:
    @pytest.fixture
    def codec(self) -> EventCodec:
        raise NotImplementedError("an adapter's test class provides the codec fixture")

    @pytest.fixture
    def samples(self) -> Sequence[object]:
        raise NotImplementedError("an adapter's test class provides the samples fixture")

    @pytest.fixture
    def older(self) -> Older:
        raise NotImplementedError("an adapter's test class provides the older fixture")

    # -- the suite covers the codec ---------------------------------------------------------
    def test_every_registered_type_has_a_sample(
        self, codec: EventCodec, samples: Sequence[object]
    ) -> None:
        sampled = {codec.types.of(sample).name for sample in samples}
        assert sampled == {entry.name for entry in codec.types}

    def test_every_older_schema_has_a_stored_event(self, codec: EventCodec, older: Older) -> None:
        stored = {(event.type, event.schema) for event, _ in older}
        old = {(e.name, s) for e in codec.types for s in range(1, e.schema)}
        assert stored >= old, "give the adapter's test class an event of each older schema"

    # -- encode / decode -------------------------------------------------------------------
    def test_every_event_survives_a_round_trip(
        self, codec: EventCodec, samples: Sequence[object]
    ) -> None:
        for sample in samples:
            data = codec.encode(sample)
            entry = codec.types.of(sample)
            assert (data.type, data.schema) == (entry.name, entry.schema), _name(sample)
            assert isinstance(data.data, bytes)
            decoded = codec.decode(recorded(data))
            assert type(decoded) is type(sample)
            assert decoded == sample

    def test_metadata_is_passed_through_as_a_copy(
        self, codec: EventCodec, samples: Sequence[object]
    ) -> None:
        metadata = {"command_id": "c-1", "correlation_id": "k-9", "tenant": "t-ü"}
        data = codec.encode(samples[0], metadata)
        metadata["command_id"] = "changed afterwards"
        assert data.metadata == {"command_id": "c-1", "correlation_id": "k-9", "tenant": "t-ü"}
        assert codec.encode(samples[0]).metadata == {}

    def test_events_recorded_with_its_content_type_decode(
        self, codec: EventCodec, samples: Sequence[object]
    ) -> None:
        # The handler records codec.content_type in every event's metadata.
        assert re.fullmatch(r"[a-z]+/[a-z0-9.+-]+", codec.content_type), codec.content_type
        for sample in samples:
            data = codec.encode(sample, {CONTENT_TYPE: codec.content_type, "actor": "u-1"})
            event = recorded(data)
            assert event.metadata[CONTENT_TYPE] == codec.content_type
            assert codec.decode(event) == sample
            assert isinstance(codec.to_json(event), dict)

    def test_encoding_does_not_depend_on_the_metadata(
        self, codec: EventCodec, samples: Sequence[object]
    ) -> None:
        # The store keeps metadata beside the payload: the payload must not carry it.
        for sample in samples:
            plain = codec.encode(sample).data
            assert codec.encode(sample, {"command_id": "c-1"}).data == plain, _name(sample)

    # -- what cannot be encoded or decoded -------------------------------------------------
    def test_an_unregistered_class_is_a_codec_error(self, codec: EventCodec) -> None:
        with pytest.raises(CodecError, match="NeverRegistered"):
            codec.encode(NeverRegistered("x"))

    def test_an_unknown_type_name_is_unknown_event_type(
        self, codec: EventCodec, samples: Sequence[object]
    ) -> None:
        event = recorded(codec.encode(samples[0]), type_="NoSuchThingHappened")
        with pytest.raises(UnknownEventType, match="NoSuchThingHappened"):
            codec.decode(event)

    def test_a_schema_newer_than_the_code_is_a_codec_error(
        self, codec: EventCodec, samples: Sequence[object]
    ) -> None:
        # Misreading a payload written by newer code would be worse than parking it.
        for sample in samples:
            data = codec.encode(sample)
            with pytest.raises(CodecError, match="newer than this code knows"):
                codec.decode(recorded(data, schema=data.schema + 1))

    @pytest.mark.parametrize(
        "payload",
        [b"", b"\xff\xfe\x00 garbage \x80", b"{", b"[1, 2]", b"null", b"\x0a\xff\xff\xff\xff"],
        ids=["empty", "garbage", "half-json", "json-list", "json-null", "bad-length"],
    )
    def test_undecodable_bytes_are_codec_errors(
        self, codec: EventCodec, samples: Sequence[object], payload: bytes
    ) -> None:
        # pytest.raises(CodecError) fails on any other exception: never a bare one.
        for sample in samples:
            event = recorded(codec.encode(sample), payload=payload)
            with pytest.raises(CodecError):
                codec.decode(event)
            with pytest.raises(CodecError):
                codec.to_json(event)

    def test_a_truncated_payload_is_a_codec_error(
        self, codec: EventCodec, samples: Sequence[object]
    ) -> None:
        for sample in samples:
            data = codec.encode(sample)
            if not data.data:
                continue
            event = recorded(data, payload=data.data[:-1])
            with pytest.raises(CodecError):
                codec.decode(event)
            with pytest.raises(CodecError):
                codec.to_json(event)

    # -- older schemas ---------------------------------------------------------------------
    def test_older_schemas_are_upcast_to_the_current_event(
        self, codec: EventCodec, older: Older
    ) -> None:
        for event, meant in older:
            assert codec.decode(event) == meant, f"{event.type} schema {event.schema}"

    # -- to_json, for people ----------------------------------------------------------------
    def test_to_json_is_a_json_object_naming_the_fields(
        self, codec: EventCodec, samples: Sequence[object]
    ) -> None:
        for sample in samples:
            view = codec.to_json(recorded(codec.encode(sample)))
            assert json.loads(json.dumps(view)) == view, _name(sample)
            assert is_dataclass(sample)
            present = {f.name for f in fields(sample) if getattr(sample, f.name) is not None}
            assert set(view) >= present, _name(sample)
